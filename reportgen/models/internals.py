"""What analyses may read inside a model, the same way for reference, user and Transformers models.

The model view stays narrow (``reportgen.models.view``); everything here is a free function built
on it, on the hook points of ``reportgen.models.hooks`` and on the step-by-step recurrences of
``reportgen.models.recurrence``. A model without the part an analysis needs raises
``NotApplicable`` with a reason for the page. This module gathers them under one name; they live
by responsibility in ``conv`` (convolutions and receptive fields), ``states`` (recurrences,
per-position states, units, clamping), ``generation`` and ``tokens`` (display, words, vocabulary).

- ``conv_layers`` / ``conv_activations``: every conv/pool layer's activation after its
  nonlinearity (B, L, C), with the layer's receptive field (size, jump, offset), so that location i
  maps to input positions ``location_span`` (Yuan et al. 2019's hidden locations, at any depth);
- ``window_forward``: a layer's activation at the one location whose receptive field is exactly a
  given input window (input optimisation needs only that window);
- ``recurrent_states``: hidden and cell states of every recurrent layer at every step;
- ``sequence_states``: per-position hidden states by layer (recurrent outputs, conv maps,
  Transformer layers);
- ``unit_states``: per-position values of the units neuron analyses read and clamp: the
  ``sequence_states``, except for models that name their neurons (Transformers: each layer's MLP
  units, ``mlp_units``);
- ``output_features``: the vector the output layer reads (the ``features`` hook point, or the input
  of an adapter's ``output_layer``);
- ``unit_features``: one vector of units per text (that vector, final states, units pooled over
  time);
- ``clamp_units`` / ``generate``: hold units fixed at every step, for classifiers and for
  generating text from a language model (the sentiment-neuron sweeps);
- ``vocabulary_vectors``: the vectors of every vocabulary entry with special tokens marked (for the
  character CNN, word vectors built from characters), for nearest-word search;
- ``display_tokens``: the text of each token for display, word pieces marked as continuations;
  ``word_spans``: those tokens grouped into the words a reader sees (pieces joined, special tokens
  on their own), for merging per-token scores into per-word ones.

Cost: each function is one batched forward pass (``window_forward`` stops after the layer);
``recurrent_states`` and ``clamp_units`` re-run recurrences step by step in Python, about T times
slower than cuDNN/oneDNN's fused kernels but exact and differentiable.
"""

from reportgen.models.conv import (
    ConvLayer,
    conv1d_weight,
    conv_activations,
    conv_layer,
    conv_layers,
    following_activation,
    location_span,
    window_forward,
    window_function,
)
from reportgen.models.fields import ReceptiveField, receptive_fields
from reportgen.models.generation import generate, generate_ids
from reportgen.models.states import (
    clamp_units,
    mlp_units,
    output_features,
    output_layer,
    recurrent_states,
    sequence_states,
    unit_features,
    unit_states,
)
from reportgen.models.tokens import (
    WordSpan,
    display_tokens,
    full_lengths,
    marks_word_starts,
    piece_row,
    token_flags,
    vocabulary_vectors,
    word_spans,
)
from reportgen.models.view import NotApplicable, TokenText, VocabVectors

__all__ = [
    "ConvLayer",
    "NotApplicable",
    "ReceptiveField",
    "TokenText",
    "VocabVectors",
    "WordSpan",
    "clamp_units",
    "conv1d_weight",
    "conv_activations",
    "conv_layer",
    "conv_layers",
    "display_tokens",
    "following_activation",
    "full_lengths",
    "generate",
    "generate_ids",
    "location_span",
    "marks_word_starts",
    "mlp_units",
    "output_features",
    "output_layer",
    "piece_row",
    "receptive_fields",
    "recurrent_states",
    "sequence_states",
    "token_flags",
    "unit_features",
    "unit_states",
    "vocabulary_vectors",
    "window_forward",
    "window_function",
    "word_spans",
]
