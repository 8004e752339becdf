"""The token grammar: masked decoding emits only valid networks; the masks follow their rules."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from tapaskit.space.architecture import Architecture, BatchNorm, Conv, Dropout, Pool, Residual
from tapaskit.errors import InvalidArchitectureError, InvalidOptionError
from tapaskit.search.controller import Controller
from tapaskit.search.tokens import TokenGrammar, split_units
from tapaskit.space.shapes import infer_shapes

torch.set_num_threads(1)

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 1, 1), (1, 5, 40)]


def _check_valid(grammar: TokenGrammar, tokens: list[int], arch: Architecture, shape) -> None:
    summary = infer_shapes(arch, shape, 10)
    assert summary.output_shape == (10,)
    assert arch.depth <= grammar.max_depth
    assert len(split_units(grammar, tokens)) <= grammar.max_layers
    assert grammar.decode(tokens, shape) == arch  # the tokens replay to the same network


@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_decoding_emits_only_valid_networks(shape) -> None:
    grammar = TokenGrammar()
    rng = np.random.default_rng(0)
    for _ in range(300):
        state = grammar.sample(rng, shape)
        _check_valid(grammar, state.tokens, state.architecture(), shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_controller_decoding_emits_only_valid_networks(shape) -> None:
    # raw, sharpened logits push the policy to extremes, so the masks alone must keep it valid
    grammar = TokenGrammar(max_layers=8, max_depth=12, max_fc=1)
    torch.manual_seed(3)
    controller = Controller(grammar.size, hidden_size=16, tanh_constant=None, temperature=0.2)
    generator = torch.Generator().manual_seed(0)
    sample = controller.sample(grammar, shape, 200, generator)
    for state in sample.states:
        assert state.done
        _check_valid(grammar, state.tokens, state.architecture(), shape)
    # the recorded masks allow every chosen token, and nothing is chosen after a sequence's end
    chosen = sample.mask.gather(2, sample.tokens[:, :, None]).squeeze(2)
    assert bool(chosen[sample.valid.bool()].all())
    lengths = sample.valid.sum(dim=1).long().tolist()
    assert lengths == [len(s.tokens) for s in sample.states]


def test_every_state_offers_a_token_and_decoding_terminates() -> None:
    grammar = TokenGrammar(max_layers=4, max_depth=4)
    rng = np.random.default_rng(1)
    for shape in SHAPES:
        for _ in range(200):
            state = grammar.start(shape)
            steps = 0
            while not state.done:
                allowed = state.allowed()
                assert allowed
                state.push(allowed[int(rng.integers(len(allowed)))])
                steps += 1
            assert steps <= grammar.max_tokens
            assert state.architecture().depth <= 4


def _push_names(grammar: TokenGrammar, state, names: list[str]) -> None:
    all_names = grammar.names(range(grammar.size))
    for name in names:
        state.push(all_names.index(name))


def test_mask_rules() -> None:
    grammar = TokenGrammar()

    def names(state) -> set[str]:
        return set(grammar.names(state.allowed()))

    start = grammar.start((3, 32, 32))
    assert "layer:stop" not in names(start)  # nothing weighted yet
    assert "layer:gap" not in names(start) and "layer:dropout" not in names(start)
    assert {"layer:conv", "layer:residual", "layer:pool", "layer:fc"} <= names(start)

    tiny = grammar.start((3, 1, 1))
    assert "layer:pool" not in names(tiny)
    _push_names(grammar, tiny, ["layer:conv", "filters:16", "kernel:3"])
    assert names(tiny) == {"stride:1"}  # a 1x1 map cannot be strided

    small = grammar.start((1, 2, 2))
    _push_names(grammar, small, ["layer:pool", "pool_mode:max"])
    assert names(small) == {"pool_kernel:2"}  # a 3x3 window does not fit a 2x2 map

    flat = grammar.start((1, 8, 8))
    _push_names(grammar, flat, ["layer:fc", "units:32", "bn:no"])
    assert names(flat) == {"layer:fc", "layer:dropout", "layer:stop"}
    _push_names(grammar, flat, ["layer:dropout", "rate:0.5"])
    assert names(flat) == {"layer:fc", "layer:stop"}  # never two dropouts in a row


def test_max_flatten_and_layer_budget() -> None:
    grammar = TokenGrammar(max_flatten=1000, max_layers=2)
    big = grammar.start((3, 32, 32))  # 3072 features > 1000
    assert "layer:fc" not in grammar.names(big.allowed())
    state = grammar.start((1, 8, 8))
    _push_names(grammar, state, ["layer:pool", "pool_mode:max", "pool_kernel:2"])
    # one unit left and nothing weighted yet: it must be weighted
    assert set(grammar.names(state.allowed())) == {"layer:conv", "layer:residual", "layer:fc"}
    _push_names(grammar, state, ["layer:fc", "units:32", "bn:yes"])
    assert grammar.names(state.allowed()) == ["layer:stop"]


def test_units_expand_to_the_documented_layers() -> None:
    grammar = TokenGrammar()
    state = grammar.start((3, 9, 9))
    _push_names(grammar, state, [
        "layer:residual", "filters:32", "kernel:3", "stride:2", "bn:yes",
        "layer:pool", "pool_mode:avg", "pool_kernel:3",
        "layer:dropout", "rate:0.25",
        "layer:gap",
        "layer:fc", "units:64", "bn:no",
        "layer:stop",
    ])
    arch = state.architecture()
    kinds = [layer.kind for layer in arch.layers]
    assert kinds == ["residual", "act", "pool", "dropout", "gap", "fc", "act"]
    block = arch.layers[0]
    assert isinstance(block, Residual)
    assert [x.kind for x in block.layers] == ["conv", "bn", "act", "conv", "bn"]
    assert block.layers[0] == Conv(32, 3, 2) and block.layers[3] == Conv(32, 3, 1)
    assert arch.layers[2] == Pool(kernel=3, stride=2, mode="avg")
    assert arch.layers[3] == Dropout(0.25)
    # 9 -> 5 (conv stride 2) -> 2 (pool 3/2): the tracker agrees with shape inference
    assert infer_shapes(arch, (3, 9, 9), 10).layers[2].output_shape == (32, 2, 2)
    assert (state.channels, state.height, state.width) == (64, 2, 2) and state.flat


def test_push_rejects_a_forbidden_token_and_names_the_choices() -> None:
    grammar = TokenGrammar()
    state = grammar.start((1, 8, 8))
    rule = r"token 0 \(layer\) must be one of .*but got layer:stop"
    with pytest.raises(InvalidArchitectureError, match=rule):
        state.push(grammar.layer_token("stop"))
    with pytest.raises(InvalidArchitectureError, match="must end with layer:stop"):
        grammar.decode([grammar.layer_token("conv")], (1, 8, 8))


def test_activations_add_an_act_token() -> None:
    grammar = TokenGrammar(activations=("relu", "gelu"))
    assert grammar.templates["conv"][-1] == "act"
    state = grammar.start((1, 8, 8))
    _push_names(grammar, state, [
        "layer:conv", "filters:8", "kernel:1", "stride:1", "bn:no", "act:gelu", "layer:stop",
    ])
    assert [layer.kind for layer in state.architecture().layers] == ["conv", "act"]
    assert state.architecture().layers[1].fn == "gelu"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"kernels": (2,)}, "kernels must be a non-empty subset"),
        ({"filters": ()}, "filters must be a non-empty list"),
        ({"rates": (1.0,)}, r"rates must be a non-empty list in \[0, 1\)"),
        ({"max_depth": 1}, "max_depth must be an integer >= 2, but got 1"),
        ({"activations": ("swish",)}, "activations must be a non-empty subset"),
    ],
)
def test_bad_grammar_options(options, match) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        TokenGrammar(**options)


def test_the_space_is_diverse() -> None:
    grammar = TokenGrammar()
    rng = np.random.default_rng(2)
    archs = [grammar.sample(rng, (3, 32, 32)).architecture() for _ in range(400)]
    kinds = Counter(k for a in archs for k in {layer.kind for layer in a.layers})
    for kind in ("conv", "residual", "pool", "bn", "dropout", "gap", "fc"):
        assert 0.05 < kinds[kind] / len(archs) < 0.95, kind
    params = [infer_shapes(a, (3, 32, 32), 10).params for a in archs]
    assert min(params) < 20_000 and max(params) > 2_000_000
    depths = {a.depth for a in archs}
    assert min(depths) == 2 and max(depths) >= 10
    assert any(isinstance(x, BatchNorm) for a in archs for x in a.layers)
    assert len({a.arch_hash for a in archs}) > 0.85 * len(archs)
