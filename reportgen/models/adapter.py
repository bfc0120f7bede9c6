"""The names the model adapters had before the model view (``reportgen.models.view``).

``ModelAdapter`` was both the reference adapter and the base class of the others; the adapters are
now siblings that implement ``ModelView``: ``reference.ReferenceAdapter``, ``user.UserAdapter``
and ``hf.HFAdapter``. These aliases keep scripts written against the old names working; new code
imports from the modules themselves and types a model as ``ModelView``.
"""

from __future__ import annotations

from reportgen.models.fields import ReceptiveField, receptive_fields
from reportgen.models.reference import ReferenceAdapter
from reportgen.models.user import UserAdapter, UserCodeError, UserModel, read_logits
from reportgen.models.view import ModelView

ModelAdapter = ReferenceAdapter
HookedAdapter = UserAdapter

__all__ = [
    "HookedAdapter",
    "ModelAdapter",
    "ModelView",
    "ReceptiveField",
    "ReferenceAdapter",
    "UserAdapter",
    "UserCodeError",
    "UserModel",
    "read_logits",
    "receptive_fields",
]
