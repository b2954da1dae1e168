import pytest
import torch
from torch import nn

from ganbook.models import (
    SUPPORTED_IMAGE_SIZES,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    count_parameters,
    init_dcgan_weights,
    sample_latent,
)

N, K = 4, 3  # batch size, number of classes in the conditional tests


def _labels(n: int = N) -> torch.Tensor:
    return torch.arange(n) % K


def test_sample_latent_shape_dtype_and_reproducibility():
    z1 = sample_latent(5, 7, generator=torch.Generator().manual_seed(0))
    z2 = sample_latent(5, 7, generator=torch.Generator().manual_seed(0))
    assert z1.shape == (5, 7) and z1.dtype == torch.float32
    assert torch.equal(z1, z2)


def test_sample_latent_is_standard_normal():
    z = sample_latent(20_000, 4, generator=torch.Generator().manual_seed(1))
    assert z.mean().abs() < 0.02 and (z.std() - 1).abs() < 0.02


@pytest.mark.parametrize("image_size", SUPPORTED_IMAGE_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [None, K])
def test_dcgan_generator_shape_and_range(image_size, channels, num_classes):
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=16, image_size=image_size, channels=channels, ngf=8,
                       num_classes=num_classes)
    y = None if num_classes is None else _labels()
    x = G(sample_latent(N, 16), y)
    assert x.shape == (N, channels, image_size, image_size)
    assert x.abs().max() <= 1.0
    assert G.latent_dim == 16 and G.num_classes == num_classes


@pytest.mark.parametrize("image_size", SUPPORTED_IMAGE_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [None, K])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_dcgan_discriminator_returns_logits(image_size, channels, num_classes, spectral_norm):
    torch.manual_seed(0)
    D = DCGANDiscriminator(image_size=image_size, channels=channels, ndf=8,
                           num_classes=num_classes, spectral_norm=spectral_norm)
    y = None if num_classes is None else _labels()
    logits = D(torch.rand(N, channels, image_size, image_size) * 2 - 1, y)
    assert logits.shape == (N,) and logits.dtype == torch.float32
    assert D.num_classes == num_classes


@pytest.mark.parametrize("image_size, widths", [
    (8, [8]), (16, [16, 8]), (28, [16, 8]), (32, [32, 16, 8]), (64, [64, 32, 16, 8])])
def test_dcgan_generator_channel_widths_follow_radford(image_size, widths):
    G = DCGANGenerator(latent_dim=16, image_size=image_size, ngf=8)
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == widths + [1]  # last hidden block has ngf channels
    assert convs[0].kernel_size == ((7, 7) if image_size == 28 else (4, 4))
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == len(widths)  # every block but the output one


@pytest.mark.parametrize("image_size, widths", [
    (8, [8]), (16, [8, 16]), (28, [8, 16]), (32, [8, 16, 32]), (64, [8, 16, 32, 64])])
def test_dcgan_discriminator_channel_widths_and_batchnorm(image_size, widths):
    D = DCGANDiscriminator(image_size=image_size, ndf=8)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == widths + [1]
    assert convs[-1].kernel_size == ((7, 7) if image_size == 28 else (4, 4))
    bns = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == len(widths) - 1  # not on the first block


def test_dcgan_64_parameter_counts_match_pytorch_example_plus_biases():
    # pytorch/examples dcgan (nz=100, ngf=ndf=64, nc=3) has 3,576,704 / 2,765,568 parameters, all
    # convs bias-free; ours keep biases on convs not followed by BatchNorm (3 + 64 + 1 scalars).
    G = DCGANGenerator(latent_dim=100, image_size=64, channels=3, ngf=64)
    D = DCGANDiscriminator(image_size=64, channels=3, ndf=64)
    assert count_parameters(G) == 3_576_704 + 3
    assert count_parameters(D) == 2_765_568 + 64 + 1


def test_count_parameters_trainable_only():
    layer = nn.Linear(3, 2)  # 6 weights + 2 biases
    layer.bias.requires_grad_(False)
    assert count_parameters(layer) == 6
    assert count_parameters(layer, trainable_only=False) == 8


@pytest.mark.parametrize("num_classes", [None, K])
def test_mlp_generator_shapes(num_classes):
    G = MLPGenerator(latent_dim=5, out_shape=(2,), hidden_dim=16, num_classes=num_classes)
    y = None if num_classes is None else _labels()
    assert G(sample_latent(N, 5), y).shape == (N, 2)
    assert G.latent_dim == 5 and G.num_classes == num_classes


def test_mlp_generator_layers_and_tanh_range():
    G = MLPGenerator(latent_dim=4, out_shape=(1, 8, 8), hidden_dim=16, num_hidden=3,
                     tanh_output=True)
    assert sum(isinstance(m, nn.Linear) for m in G.modules()) == 4
    assert sum(isinstance(m, nn.ReLU) for m in G.modules()) == 3
    x = G(100 * sample_latent(64, 4))  # large inputs saturate tanh: still within [-1, 1]
    assert x.shape == (64, 1, 8, 8) and x.abs().max() <= 1.0


def test_mlp_generator_without_tanh_is_unbounded():
    G = MLPGenerator(latent_dim=2, hidden_dim=16)
    assert G(100 * sample_latent(64, 2, generator=torch.Generator().manual_seed(0))).abs().max() > 1


@pytest.mark.parametrize("num_classes", [None, K])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_mlp_discriminator_shapes(num_classes, spectral_norm):
    D = MLPDiscriminator(in_shape=(1, 8, 8), hidden_dim=16, num_classes=num_classes,
                         spectral_norm=spectral_norm)
    y = None if num_classes is None else _labels()
    assert D(torch.randn(N, 1, 8, 8), y).shape == (N,)
    assert D.num_classes == num_classes


def test_mlp_discriminator_packing():
    D = MLPDiscriminator(in_shape=(2,), hidden_dim=16, pack=2)
    assert D.net[0].in_features == 4  # two 2-D samples side by side
    assert D(torch.randn(6, 2)).shape == (3,)
    with pytest.raises(ValueError, match="multiple of 2"):
        D(torch.randn(5, 2))


def _fill(module: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(value)


def test_init_dcgan_weights_statistics():
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=100, image_size=64, channels=3, ngf=64)
    _fill(G, 5.0)  # so the test sees init_dcgan_weights at work, not the constructor
    G.apply(init_dcgan_weights)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    gamma = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(gamma.mean().item() - 1) < 5e-3 and abs(gamma.std().item() - 0.02) < 5e-3
    biases = [m.bias for m in G.modules() if getattr(m, "bias", None) is not None]
    assert len(biases) == 5 and all(torch.all(b == 0) for b in biases)


def _sigma_max(layer: nn.Module) -> float:
    return torch.linalg.matrix_norm(layer.weight.flatten(start_dim=1), ord=2).item()


def test_init_dcgan_weights_on_linear_and_spectral_norm_layers():
    torch.manual_seed(0)
    D = DCGANDiscriminator(image_size=64, channels=3, ndf=64, spectral_norm=True)
    M = MLPDiscriminator(in_shape=(256,), hidden_dim=512)
    for model in (D, M):
        _fill(model, 5.0)
        model.apply(init_dcgan_weights)
        w = torch.cat([p.flatten() for name, p in model.named_parameters()
                       if name.endswith("weight") or name.endswith("original")])
        assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
        assert all(torch.all(p == 0) for name, p in model.named_parameters()
                   if name.endswith("bias"))
    D.eval()  # the power-iteration estimate of sigma was refreshed for the new weights
    for layer in (m for m in D.modules() if isinstance(m, nn.Conv2d)):
        assert _sigma_max(layer) == pytest.approx(1.0, abs=0.1)


def test_spectral_norm_makes_largest_singular_value_one():
    torch.manual_seed(0)
    D = MLPDiscriminator(in_shape=(2,), hidden_dim=64, num_hidden=2, spectral_norm=True)
    D.train()
    with torch.no_grad():
        for _ in range(200):  # one power iteration per training forward pass
            D(torch.randn(8, 2))
    D.eval()  # reading the weight in eval mode runs no more iterations
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3
    for layer in linears:
        assert _sigma_max(layer) == pytest.approx(1.0, abs=1e-3)
    plain = MLPDiscriminator(in_shape=(2,), hidden_dim=64, num_hidden=2)
    assert abs(_sigma_max(plain.net[2]) - 1) > 0.1  # without it, far from 1


def test_spectral_norm_dcgan_discriminator_has_no_batchnorm():
    D = DCGANDiscriminator(image_size=32, channels=3, ndf=8, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    with torch.no_grad():
        for _ in range(200):  # train mode: one power iteration per forward pass
            D(torch.randn(2, 3, 32, 32))
    D.eval()
    for layer in (m for m in D.modules() if isinstance(m, nn.Conv2d)):
        assert torch.nn.utils.parametrize.is_parametrized(layer, "weight")
        assert _sigma_max(layer) == pytest.approx(1.0, abs=1e-2)  # of the (out, in*k*k) matrix


@pytest.mark.parametrize("make_G", [
    lambda: DCGANGenerator(latent_dim=16, image_size=16, ngf=8, num_classes=K),
    lambda: MLPGenerator(latent_dim=16, out_shape=(2,), hidden_dim=16, num_classes=K)])
def test_conditioning_changes_generator_output(make_G):
    torch.manual_seed(0)
    G = make_G().eval()
    z = sample_latent(1, 16).expand(K, 16)  # one z for every label
    x = G(z, torch.arange(K))
    for i in range(1, K):
        assert not torch.allclose(x[0], x[i], atol=1e-4)


@pytest.mark.parametrize("make_D", [
    lambda: DCGANDiscriminator(image_size=16, ndf=8, num_classes=K),
    lambda: MLPDiscriminator(in_shape=(1, 16, 16), hidden_dim=16, num_classes=K)])
def test_conditioning_changes_discriminator_output(make_D):
    torch.manual_seed(0)
    D = make_D().eval()
    logits = D(torch.randn(1, 1, 16, 16).expand(K, 1, 16, 16), torch.arange(K))
    assert logits.unique().numel() == K


@pytest.mark.parametrize("make", [
    lambda s: DCGANGenerator(image_size=s), lambda s: DCGANDiscriminator(image_size=s)])
@pytest.mark.parametrize("size", [48, 0, 128])
def test_unsupported_image_size_is_a_clear_error(make, size):
    with pytest.raises(ValueError, match=rf"{size}.*\[8, 16, 28, 32, 64\]"):
        make(size)


def test_missing_or_unexpected_labels_are_clear_errors():
    G = MLPGenerator(latent_dim=2, num_classes=K)
    with pytest.raises(ValueError, match="conditional"):
        G(sample_latent(N, 2))
    D = DCGANDiscriminator(image_size=8, ndf=8, num_classes=K)
    with pytest.raises(ValueError, match="conditional"):
        D(torch.zeros(N, 1, 8, 8))
    with pytest.raises(ValueError, match="integer labels"):
        D(torch.zeros(N, 1, 8, 8), torch.zeros(N))  # float labels
    with pytest.raises(ValueError, match="unconditional"):
        DCGANGenerator(latent_dim=8, image_size=8, ngf=8)(sample_latent(N, 8), _labels())


def test_wrong_input_shapes_are_clear_errors():
    D = DCGANDiscriminator(image_size=28, channels=1, ndf=8)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\), got \(4, 1, 32, 32\)"):
        D(torch.zeros(4, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        D(torch.zeros(4, 3, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 100\)"):
        DCGANGenerator()(torch.zeros(4, 10))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        MLPDiscriminator()(torch.zeros(4, 3))


@pytest.mark.parametrize("make", [
    lambda: DCGANGenerator(latent_dim=16, image_size=28, ngf=8, num_classes=K),
    lambda: DCGANDiscriminator(image_size=32, channels=3, ndf=8, spectral_norm=True),
    lambda: MLPGenerator(num_classes=K), lambda: MLPDiscriminator(spectral_norm=True)])
def test_same_seed_gives_identical_parameters(make):
    torch.manual_seed(123)
    a = make().state_dict()
    torch.manual_seed(123)
    b = make().state_dict()
    torch.manual_seed(124)
    c = make().state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_minibatch_std_of_identical_samples_is_zero():
    from ganbook.models import MinibatchStd
    h = torch.randn(1, 5).repeat(8, 1)  # 8 identical rows
    out = MinibatchStd(group_size=4)(h)
    assert out.shape == (8, 6) and torch.equal(out[:, :5], h)
    assert torch.equal(out[:, 5], torch.zeros(8))


def test_minibatch_std_known_value_per_group():
    from ganbook.models import MinibatchStd
    # group 1: features (0, 0) and (2, 4): population stds 1 and 2, mean 1.5; group 2: equal rows
    h = torch.tensor([[0.0, 0.0], [2.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    feature = MinibatchStd(group_size=2, eps=0.0)(h)[:, 2]
    torch.testing.assert_close(feature, torch.tensor([1.5, 1.5, 0.0, 0.0]))
    whole = MinibatchStd(group_size=64)(h)[:, 2]  # a group larger than the batch: the batch
    assert torch.all(whole == whole[0]) and whole[0] > 0


def test_minibatch_std_gradient_is_finite_for_a_collapsed_batch():
    from ganbook.models import MinibatchStd
    h = torch.ones(4, 3, requires_grad=True)
    MinibatchStd(4)(h)[:, 3].sum().backward()
    assert torch.isfinite(h.grad).all()


def test_mlp_discriminator_with_minibatch_std():
    torch.manual_seed(0)
    D = MLPDiscriminator(in_shape=(2,), hidden_dim=16, num_hidden=2, minibatch_std=4)
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert linears[-1].in_features == 17  # the last hidden layer plus the std feature
    assert D(torch.randn(8, 2)).shape == (8,)
    with pytest.raises(ValueError, match="multiple of 4"):
        D(torch.randn(6, 2))
    with pytest.raises(ValueError, match="minibatch_std >= 0"):
        MLPDiscriminator(minibatch_std=-1)
    # D can tell a collapsed batch from a spread one only through the std feature
    x = torch.randn(1, 2).repeat(4, 1)
    assert D.net[-2](D.net[:-2](x))[:, -1].eq(0).all()


def test_minibatch_std_off_builds_the_same_network():
    torch.manual_seed(3)
    a = MLPDiscriminator(hidden_dim=16).state_dict()
    torch.manual_seed(3)
    b = MLPDiscriminator(hidden_dim=16, minibatch_std=0).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
