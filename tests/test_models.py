"""Every model: one forward/backward on its datasets' shapes, body/head/embed, and clear errors."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from alrun.errors import ConfigError
from alrun.models.nets import CNN, Classifier

# (model, dataset overrides): the input shape always comes from the composed dataset
CASES = [
    ("mlp", "dataset=iris"),
    ("mlp", "dataset=mnist"),
    ("logreg", "dataset=breast_cancer"),
    ("logreg", "dataset=fashion_mnist"),
    ("cnn", "dataset=mnist"),
    ("cnn", "dataset=digits dataset.images=true"),
    ("resnet", "dataset=fashion_mnist"),
    ("resnet", "dataset=digits dataset.images=true"),
]


@pytest.mark.parametrize(("model", "dataset"), CASES)
def test_forward_backward_on_the_dataset_shapes(make_cfg, dataset_overrides, model, dataset):
    name, *rest = dataset.split()
    cfg = make_cfg(*dataset_overrides(name.split("=")[1]), *rest, f"model={model}")
    splits = instantiate(cfg.dataset)
    torch.manual_seed(0)
    net = instantiate(cfg.model)(input_shape=splits.input_shape, n_classes=splits.n_classes)
    assert isinstance(net, Classifier)
    x, y = splits.train.x[:6], splits.train.y[:6]
    logits = net(x)
    assert logits.shape == (6, splits.n_classes)
    nn.functional.cross_entropy(logits, y).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)
    net.eval()
    with torch.no_grad():
        emb = net.embed(x)
        assert emb.ndim == 2 and torch.allclose(net.head(emb), net(x))


def test_resnet_handles_32x32_colour_images_and_has_about_78k_parameters():
    from alrun.models.resnet import ResNet

    net = ResNet((3, 32, 32), 10)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert net.embed(torch.zeros(2, 3, 32, 32)).shape == (2, 64)
    assert 70_000 < sum(p.numel() for p in ResNet((1, 28, 28), 10).parameters()) < 80_000
    deeper = ResNet((1, 28, 28), 10, blocks=3)  # ResNet-20: 1 + 3 * 3 * 2 + 1 weighted layers
    convs = [m for m in deeper.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 19


def test_cnn_is_gals_architecture():
    net = CNN((1, 28, 28), 10)
    kinds = [type(m).__name__ for m in net.body]
    assert kinds == [
        "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Dropout", "Flatten", "Linear", "ReLU", "Dropout",
    ]  # fmt: skip
    convs = [m for m in net.body if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (3, 3)), (32, (3, 3))]
    drops = [m.p for m in net.body if isinstance(m, nn.Dropout)]
    assert (
        drops == [0.25, 0.5] and net.body[7].out_features == 128 and net.body[7].in_features == 32 * 12 * 12
    )
    no_dropout = CNN((1, 28, 28), 10, dropout_conv=0.0, dropout_dense=0.0)
    assert not any(isinstance(m, nn.Dropout) for m in no_dropout.modules())


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: CNN((64,), 10), "model=cnn needs image items [channels, height, width]"),
        (lambda: CNN((1, 4, 4), 10), "too small"),
        (lambda: CNN((1, 28, 28), 10, dropout_dense=1.0), "model.dropout_dense=1.0 is out of range"),
    ],
)
def test_model_errors_are_config_errors(build, needle):
    with pytest.raises(ConfigError) as info:
        build()
    assert needle in str(info.value)


def test_cnn_on_flat_digits_stops_the_cli_with_one_line(run_cfg):
    with pytest.raises(ConfigError, match=r"model=cnn needs image items .* shape \(64,\)"):
        run_cfg("model=cnn")


def test_cnn_runs_end_to_end_on_digit_images(run_cfg):
    rows = run_cfg("model=cnn", "dataset.images=true", "initial=balanced", "val_size=10")
    assert [r["n_labelled"] for r in rows] == [10, 14, 18, 20]
    assert all(r["n_val_labelled"] == 10 for r in rows)
