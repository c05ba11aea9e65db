"""The console's POST forms: anything malformed gets a clear 400, never a 500.

The CSRF check reads each form once, before any handler: it must come as a web form
(urlencoded or multipart), decode in its charset, and hold text only (no files). Handlers
then take each field with `field` or `verbatim`, which say which field is missing; `field`
refuses control characters (PostgreSQL cannot even store a NUL).
"""
from __future__ import annotations

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from bot.console.safe_text import CONTROL, CONTROL_IN_LINES

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
RELOAD = "Reload the page and try again."


class BadForm(Exception):
    """Its message is shown to the user, with status 400."""


async def read(request: web.Request) -> MultiDictProxy:
    if not request.body_exists:  # a bare POST is an empty form (the CSRF check refuses it)
        return MultiDictProxy(MultiDict())
    if request.content_type not in FORM_TYPES:
        raise BadForm(f"The form could not be read: it was not sent as a web form. {RELOAD}")
    try:
        form = await request.post()
    except web.HTTPException:  # too large: 413
        raise
    except Exception as error:  # not valid in its charset, an unknown charset, broken multipart
        raise BadForm(f"The form could not be read: its encoding is broken. {RELOAD}") from error
    if not all(isinstance(value, str) for value in form.values()):
        raise BadForm(f"The form could not be read: it holds a file or binary data. {RELOAD}")
    return form


def _present(form: MultiDictProxy, name: str, required: bool) -> str:
    value = form.get(name)
    if value is None:
        if required:
            raise BadForm(f"The form is incomplete: '{name}' is missing. {RELOAD}")
        return ""
    return value


def field(form: MultiDictProxy, name: str, *, required: bool = True, lines: bool = False) -> str:
    """A text field; `lines`: it may hold tabs and line breaks (a note)."""
    value = _present(form, name, required)
    if (CONTROL_IN_LINES if lines else CONTROL).search(value):
        raise BadForm(f"'{name}' cannot contain control characters.")
    return value


def verbatim(form: MultiDictProxy, name: str) -> str:
    """A field that may hold any character: a password (it is only ever hashed), an id
    that is looked up as it is."""
    return _present(form, name, required=True)


def row_id(form: MultiDictProxy, name: str) -> int:
    """A database id from a hidden field (digits only)."""
    value = _present(form, name, required=True)
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise BadForm(f"'{name}' is not an id. {RELOAD}")
    return int(value)
