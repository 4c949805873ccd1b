"""The identifier and phone validators on real Chinese formats."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_10

from apps.core import validators as v

# Published 统一社会信用代码 of well-known companies (check characters verified).
REAL_USCC = [
    "91110000600037341L",
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91330100716105852F",  # 阿里巴巴（中国）有限公司
    "91110108551385082Q",  # 小米科技有限责任公司
    "91110000802100433B",  # 百度在线网络技术（北京）有限公司
]

# 17-character bodies whose registration authority (first character) or organisation code
# uses letters: A 中央军委改革和编制办公室, N 农业, Y 其他; organisation codes with letters.
LETTER_BODIES = [
    "A1110000MA0000001",
    "N2440300MA5DC6QW6",
    "N1330100MA28AB12X",
    "Y1310000MA1FL4CK1",
    "91310000MA1FL4CK1",
    "93440300MA5EKA3PL",  # 农民专业合作社, letters in the organisation code
]


def with_check(body: str) -> str:
    return body + uscc.calc_check_digit(body)


def license_error(value: str) -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        v.validate_license_no(value)
    return exc.value


# --- 统一社会信用代码 --------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_USCC)
def test_real_published_uscc_are_valid(code):
    assert uscc.is_valid(code)  # the library agrees on these digit-leading codes
    v.validate_license_no(code)


@pytest.mark.parametrize("body", LETTER_BODIES)
def test_uscc_with_letters_is_valid(body):
    code = with_check(body)
    v.validate_license_no(code)


def test_stdnum_alone_would_reject_letter_authorities():
    # The reason the format is checked here: stdnum refuses these valid codes.
    code = with_check("N2440300MA5DC6QW6")
    assert not uscc.is_valid(code)
    v.validate_license_no(code)


@pytest.mark.parametrize("code", [*REAL_USCC, *(with_check(b) for b in LETTER_BODIES)])
def test_uscc_wrong_check_character_is_rejected(code):
    for wrong in v.USCC_ALPHABET.replace(code[-1], ""):
        error = license_error(code[:-1] + wrong)
        assert error.code == "checksum"
        assert "校验位" in error.messages[0]


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_uscc_forbidden_letters_are_rejected(letter):
    code = "91310000MA1FL4CK1E"
    error = license_error(code[:10] + letter + code[11:])
    assert error.code == "format"
    assert letter in error.messages[0]


def test_uscc_forbidden_letter_as_check_character():
    error = license_error("91110000600037341" + "Z")
    assert error.code == "format"


def test_uscc_region_code_must_be_digits():
    error = license_error(with_check("91A10000600037341"))
    assert error.code == "format"
    assert "行政区划码" in error.messages[0]


@pytest.mark.parametrize(
    "typed",
    [
        "91310000ma1fl4ck1e",
        " 91310000MA1FL4CK1E ",
        "9131 0000 MA1F L4CK 1E",
        "9131-0000-MA1F-L4CK-1E",
        "9131－0000－MA1F－L4CK－1E",
    ],
)
def test_uscc_lower_case_and_separators_are_normalised(typed):
    v.validate_license_no(typed)
    assert v.normalize_license_no(typed) == "91310000MA1FL4CK1E"


@pytest.mark.parametrize(
    "value", ["9131000MA1FL4CK1E", "91310000MA1FL4CK1EX", "12345", "", "注册号"]
)
def test_wrong_length_is_rejected(value):
    assert license_error(value).code == "length"


# --- 15 位注册号 ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["11010800000001", "44030110000123", "31011500012345"])
def test_legacy_registration_number_valid(body):
    number = body + mod_11_10.calc_check_digit(body)
    v.validate_license_no(number)
    v.validate_license_no(f"{number[:6]} {number[6:]}")


@pytest.mark.parametrize("body", ["11010800000001", "44030110000123", "31011500012345"])
def test_legacy_registration_number_wrong_check_digit(body):
    good = mod_11_10.calc_check_digit(body)
    for digit in "0123456789":
        if digit == good:
            continue
        error = license_error(body + digit)
        assert error.code == "checksum"
        assert "15 位注册号" in error.messages[0]


def test_legacy_registration_number_known_value():
    assert v.validate_license_no("110108000000016") is None
    assert license_error("110108000000017").code == "checksum"


# --- 手机号 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "13800138000",
        "13912345678",
        "14712345678",
        "15012345678",
        "16612345678",
        "17012345678",
        "18612345678",
        "19212345678",  # 中国广电
        "19612345678",
        "19712345678",
        "19912345678",
    ],
)
def test_mobile_segments_13x_to_19x(number):
    assert v.is_mobile(number)
    v.validate_mobile(number)


@pytest.mark.parametrize(
    "typed",
    [
        "+8613800138000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "008613800138000",
        "8613800138000",
        "138 0013 8000",
        "138-0013-8000",
        " 13800138000 ",
    ],
)
def test_mobile_prefix_and_spaces_are_normalised(typed):
    assert v.is_mobile(typed)
    assert v.normalize_mobile(typed) == "13800138000"
    assert v.mobile_e164(typed) == "+8613800138000"


@pytest.mark.parametrize(
    "number",
    [
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "12345678901",  # no 12x segment
        "11012345678",
        "10086",
        "1380013800a",
        "abcdefghijk",
        "",
        "+8512345678901",
    ],
)
def test_invalid_mobiles(number):
    assert not v.is_mobile(number)
    with pytest.raises(ValidationError):
        v.validate_mobile(number)


def test_mask_phone_hides_the_middle():
    assert v.mask_phone("+86 138 0013 8000") == "138****8000"
    assert v.mask_phone("123") == "****"


# --- 固定电话 / 400 / 800 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "0755-12345678",
        "075512345678",
        "0755 1234 5678",
        "010-12345678",
        "010-12345678-123",  # extension
        "(021)62345678",
        "(021) 6234-5678",
        "（021）62345678",
        "021 6234 5678",
        "0571-8888888",  # 7-digit local number
        "0571-88888888",
        "0571-8888888-12",
        "0755-12345678转8001",
        "0755-12345678 转 8001",
        "010-12345678 ext 12",
        "010-12345678x12",
        "010-12345678#12",
        "+86 755 12345678",
        "+86-10-12345678",
        "0086 21 62345678",
        "400-820-8820",
        "800 820 8820",
        "4008208820",
        "400 820 8820",
        "800-820-8820",
        "400-820-8820转1",
    ],
)
def test_real_landline_formats_are_accepted(number):
    assert v.is_landline(number), number
    v.validate_landline(number)


@pytest.mark.parametrize(
    "number",
    [
        "12345",
        "0755-123",
        "1380013800",  # 10 digits: neither a mobile nor a landline
        "0755-abcdefgh",
        "电话号码",
        "0755-02345678",  # local numbers do not start with 0
        "0571-888888",  # 6-digit local number (not 057 + 1888888)
        "010-1234567",  # 3-digit area codes have 8-digit local numbers
        "021-6234567",
        "010-123456789",
        "0755-123456789",
        "62345678",  # no area code
        "4008208",
        "400-820-88201",
        "500-820-8820",
        "0755-12345678转",
        "",
    ],
)
def test_invalid_landlines_are_rejected(number):
    assert not v.is_landline(number), number
    with pytest.raises(ValidationError) as exc:
        v.validate_landline(number)
    assert exc.value.code == "landline"


@pytest.mark.parametrize("number", ["13800138000", "+86 196 1234 5678"])
def test_office_and_contact_phone_accept_mobiles(number):
    assert not v.is_landline(number)
    v.validate_landline(number)
    v.validate_contact_phone(number)


def test_contact_phone_rejects_garbage():
    with pytest.raises(ValidationError):
        v.validate_contact_phone("1380013800")
