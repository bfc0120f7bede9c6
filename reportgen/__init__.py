"""reportgen: interpretability reports for text models as a self-contained static site.

The pipeline (see ``reportgen.run.pipeline.build``): load model(s) -> load data -> for each
analysis, a cached result or a fresh computation -> render the site. Subpackages follow those
stages: ``data`` (datasets, tokenisers, vocabularies, the demo corpus), ``models`` (reference
architectures, training, checkpoints, the model view), ``analyses`` (one module per analysis),
``site`` (tables -> charts -> HTML), ``run`` (planning and running a report) and the interface
(``cli``, ``review`` for compare, ``publish``).
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy, so that 'reportgen --help' does not import torch
    if name == "UserModel":
        from reportgen.models.user import UserModel

        return UserModel
    if name == "TextEncoder":
        from reportgen.data.encoding import TextEncoder

        return TextEncoder
    if name == "Tokenizer":
        from reportgen.data.user_tokenizer import Tokenizer

        return Tokenizer
    if name == "Vocab":
        from reportgen.data.vocab import Vocab

        return Vocab
    raise AttributeError(name)
