"""A complaint's files for staff: downloaded (``Content-Disposition: attachment``), or an image
previewed on the complaint page. Thin over ``AttachmentService``."""

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from admin.deps import AttachmentsDep, CurrentStaff

router = APIRouter(include_in_schema=False)


def disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (Vietnamese names survive)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/complaints/{complaint_id}/attachments/{sha256}")
async def download(
    complaint_id: str, sha256: str, user: CurrentStaff, files: AttachmentsDep, preview: bool = False
) -> Response:
    opened = await files.open(user, complaint_id, sha256)
    # Inline only for what the bytes say is a raster image; anything else is a download. The type
    # served is the sniffed one, never the one the sender declared.
    inline = preview and opened.file_type.is_image
    headers = {
        "Content-Disposition": disposition("inline" if inline else "attachment", opened.ref.name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
    return Response(opened.data, media_type=opened.file_type.content_type, headers=headers)
