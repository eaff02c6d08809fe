"""What a file is, from its first bytes (never its name or declared type), and whether we take it.

A small magic-bytes table rather than a library: the allow-list is short (images, PDF, common
office documents, audio), and every type on it is recognised here by its own signature, so
anything else, an executable renamed ``.jpg`` included, is simply "not recognised".
Office Open XML and OpenDocument files are ZIP archives: they are told apart from any other ZIP
by the entries the formats require (``[Content_Types].xml`` and the part folder, or the
``mimetype`` entry), read with ``zipfile`` without extracting anything.
"""

import io
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    content_type: str
    extensions: tuple[str, ...]  # the first is added to a name that does not end in one of them

    @property
    def is_image(self) -> bool:
        """Shown inline on the complaint page (only raster formats: no SVG, which can carry script)."""
        return self.content_type.startswith("image/")


PNG = FileType("image/png", ("png",))
JPEG = FileType("image/jpeg", ("jpg", "jpeg"))
GIF = FileType("image/gif", ("gif",))
WEBP = FileType("image/webp", ("webp",))
HEIC = FileType("image/heic", ("heic", "heif"))
PDF = FileType("application/pdf", ("pdf",))
DOC = FileType(
    "application/msword", ("doc", "xls", "ppt", "dot", "xlt", "pps")
)  # also .xls/.ppt: one OLE2 container, one type
DOCX = FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ("docx",))
XLSX = FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ("xlsx",))
PPTX = FileType("application/vnd.openxmlformats-officedocument.presentationml.presentation", ("pptx",))
ODT = FileType("application/vnd.oasis.opendocument.text", ("odt",))
ODS = FileType("application/vnd.oasis.opendocument.spreadsheet", ("ods",))
ODP = FileType("application/vnd.oasis.opendocument.presentation", ("odp",))
RTF = FileType("application/rtf", ("rtf",))
MP3 = FileType("audio/mpeg", ("mp3",))
WAV = FileType("audio/wav", ("wav",))
OGG = FileType("audio/ogg", ("ogg", "oga", "opus"))
FLAC = FileType("audio/flac", ("flac",))
M4A = FileType("audio/mp4", ("m4a", "m4b"))
AMR = FileType("audio/amr", ("amr",))

ALLOWED: tuple[FileType, ...] = (PNG, JPEG, GIF, WEBP, HEIC, PDF, DOC, DOCX, XLSX, PPTX, ODT, ODS, ODP, RTF,
                                 MP3, WAV, OGG, FLAC, M4A, AMR)  # fmt: skip
BY_CONTENT_TYPE = {t.content_type: t for t in ALLOWED}
# Not on the allow-list (never taken from an upload, never sniffed): the full text of a customer's
# message too long for the workflow state, written by us (intake.long_text), served as text.
TEXT = FileType("text/plain", ("txt",))

_OOXML = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}
_ODF = {ODT.content_type: ODT, ODS.content_type: ODS, ODP.content_type: ODP}
# The OLE2 compound file header: Word 97-2003, Excel, PowerPoint (and .msg, which is a mail).
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sniff(data: bytes) -> FileType | None:
    """The allowed type ``data`` is, or None (unknown, or known and not allowed)."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return HEIC
        if brand in (b"M4A ", b"M4B "):
            return M4A
        return None  # video (mp4, mov) is not on the list
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(_OLE2):
        return DOC
    if head.startswith(b"{\\rtf"):
        return RTF
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return MP3  # an ID3 tag, or an MPEG audio layer III frame sync
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"#!AMR"):
        return AMR
    if head.startswith(b"PK\x03\x04"):
        return _zip_document(data)
    return None


def _zip_document(data: bytes) -> FileType | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                return _ODF.get(archive.read("mimetype")[:100].decode("ascii", "replace").strip())
    except (zipfile.BadZipFile, KeyError, ValueError, NotImplementedError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    for folder, kind in _OOXML.items():
        if any(name.startswith(folder) for name in names):
            return kind
    return None
