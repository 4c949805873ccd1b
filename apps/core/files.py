"""Private uploads (licence and contract scans): checked by content, size-limited, stored
under random names outside any served directory, streamed only by permission-checked views."""

from __future__ import annotations

import mimetypes
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models.fields.files import FieldFile
from django.http import FileResponse
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _

# Magic numbers of the accepted scan formats.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}


@deconstructible
class PrivateUploadTo:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, instance, filename: str) -> str:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        return f"{self.prefix}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{ext}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateUploadTo) and other.prefix == self.prefix


def sniff(upload: UploadedFile) -> str | None:
    """The scan type by content (``pdf``, ``jpg``, ``png``) or None."""
    pos = upload.tell() if hasattr(upload, "tell") else 0
    upload.seek(0)
    head = upload.read(16)
    upload.seek(pos)
    for kind, signatures in SIGNATURES.items():
        if any(head.startswith(sig) for sig in signatures):
            return kind
    return None


def validate_scan(upload: UploadedFile) -> str:
    """Check an uploaded scan; returns its kind. Raises ValidationError in Chinese."""
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            _("文件过大：最大 %(mb)d MB") % {"mb": limit // (1024 * 1024)}, code="too_large"
        )
    if upload.size == 0:
        raise ValidationError(_("文件为空"), code="empty")
    kind = sniff(upload)
    if kind is None:
        raise ValidationError(_("只接受 PDF、JPG、PNG 格式的扫描件"), code="file_type")
    # Store with the extension of what the content is, not what the name claims.
    base = upload.name.rsplit(".", 1)[0] if "." in upload.name else upload.name
    upload.name = f"{base}.{kind}"
    return kind


def serve_private(field: FieldFile, download_name: str) -> FileResponse:
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    response = FileResponse(
        field.open("rb"), content_type=content_type, as_attachment=False, filename=download_name
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
