"""The process-wide pieces built once from the loaded library: struct
dataclasses, alert classes and the alert reader."""

from __future__ import annotations

from ._native import Native, native
from ._structs import Structs
from .alerts import Alert, AlertReader, _class_name

NATIVE: Native = native()
STRUCTS = Structs(NATIVE)

#: Alert classes by type number, one per ``LT_ALERT_*`` constant (not the categories).
ALERT_CLASSES: dict[int, type[Alert]] = {}
for _constant, _value in NATIVE.constants.items():
    if _constant.startswith("LT_ALERT_") and not _constant.startswith("LT_ALERT_CATEGORY_"):
        _cls = type(
            _class_name(_constant),
            (Alert,),
            {"__doc__": f"The ``{_constant[len('LT_ALERT_'):].lower()}`` alert ({_constant})."},
        )
        _cls.__module__ = "lt"
        ALERT_CLASSES[_value] = _cls

READER = AlertReader(NATIVE, STRUCTS, ALERT_CLASSES)


def struct_class(c_name: str) -> type:
    """The dataclass for C struct ``c_name`` (``LT_ERROR_NOT_SUPPORTED``
    when the header does not have it)."""
    cls = STRUCTS.classes.get(c_name)
    if cls is None:
        raise NATIVE.error_not_supported(f"this liblt's header has no {c_name}")
    return cls
