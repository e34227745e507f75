"""Classes transcribed from ../shared/design-docs, one module per document, registered into zoo.MODELS."""
from . import efficientnet_v1_notes  # noqa: E402,F401
from . import mobilenet_chapter  # noqa: E402,F401
from . import pytorch_models_notebook  # noqa: E402,F401
from . import pytorch_models_notebook_cells  # noqa: E402,F401
from . import efficientnet_same_padding  # noqa: E402,F401
from . import lesson16  # noqa: E402,F401
