"""QR code images for posters: PNG for print shops and slides, SVG to scale without loss."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.svg import SvgPathFillImage

from .models import QrChannel
from .services import apply_url


def _code(data: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=12, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def png_bytes(data: str) -> bytes:
    """The QR code of ``data`` as a PNG (black on white, 12 px per module)."""
    image = _code(data).make_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def svg_bytes(data: str) -> bytes:
    """The QR code of ``data`` as an SVG with a white background (one path)."""
    image = _code(data).make_image(image_factory=SvgPathFillImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def channel_url(channel: QrChannel) -> str:
    return apply_url(channel.code)
