"""``/mails``: the viewer of the local mail catcher (development), for those who read all mail."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin.deps import MailReader, SettingsDep
from admin.errors import ServiceError
from admin.rendering import render
from admin.services.mailbox import MAIL_LIST_LIMIT, list_mails, mail_dir, mail_path, read_mail

router = APIRouter(include_in_schema=False)


@router.get("/mails")
async def mails_page(request: Request, user: MailReader, settings: SettingsDep) -> Response:
    directory = mail_dir(settings)
    mails, total = list_mails(directory)
    return render(request, user, "mails.html", mails=mails, total=total, exists=directory.is_dir(),
                  limit=MAIL_LIST_LIMIT, title="Mail")  # fmt: skip


@router.get("/mails/{name:path}")
async def mail_page(request: Request, name: str, user: MailReader, settings: SettingsDep) -> Response:
    try:
        view = read_mail(mail_path(mail_dir(settings), name))
    except OSError:  # removed (or unreadable) between the check and the read
        raise ServiceError(404, "not_found", "There is no such message.") from None
    return render(request, user, "mail.html", mail=view, title=view.summary.subject or "Mail")
