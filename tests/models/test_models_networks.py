"""Networks: shapes for MLP / conv at 8x8 and 28x28, ranges, reparameterization, bad sizes."""
import pytest
import torch

from otgen.models.networks import Critic, Decoder, Encoder, conv_plan


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("side", [8, 28])
def test_shapes(arch, side):
    d = side * side
    x = torch.rand(5, d)
    enc = Encoder(d, 3, hidden=(16,), arch=arch, image_shape=(side, side), stochastic=True)
    mean, logvar = enc(x)
    assert mean.shape == (5, 3) and logvar.shape == (5, 3)
    dec = Decoder(3, d, hidden=(16,), arch=arch, image_shape=(side, side))
    y = dec(mean)
    assert y.shape == (5, d) and float(y.detach().min()) >= 0 and float(y.detach().max()) <= 1
    assert Critic(d, hidden=(16,), arch=arch, image_shape=(side, side))(x).shape == (5,)


def test_conv_plan_and_bad_sizes():
    assert conv_plan((8, 8)) == (1, 4) and conv_plan((28, 28)) == (2, 7)
    assert conv_plan((10, 10)) == (1, 5)
    for shape in [(9, 9), (18, 18), (8, 9), None, (7, 7)]:
        with pytest.raises(ValueError, match="arch='conv'"):
            Encoder(81, 2, arch="conv", image_shape=shape)
    with pytest.raises(ValueError, match="needs 64 features, got 100"):
        Decoder(2, 100, arch="conv", image_shape=(8, 8))
    enc = Encoder(64, 2, hidden=(8,))
    with pytest.raises(ValueError, match=r"\(n, 64\)"):
        enc(torch.rand(3, 784))
    with pytest.raises(ValueError, match="arch"):
        Decoder(2, 4, arch="resnet")


def test_reparameterized_sample_has_encoder_moments():
    torch.manual_seed(0)
    enc = Encoder(4, 2, hidden=(8,), stochastic=True)
    x = torch.rand(1, 4).expand(40000, 4)
    with torch.no_grad():
        mean, logvar = enc(x[:1])
        z = enc.sample(x, torch.Generator().manual_seed(1))
    sd = torch.exp(0.5 * logvar[0])
    # CLT: the sample mean is within 5 standard errors of the encoder mean
    assert torch.all((z.mean(0) - mean[0]).abs() < 5 * sd / 200)
    assert torch.allclose(z.std(0), sd, rtol=0.03)


def test_deterministic_encoder_sample_is_mean():
    enc = Encoder(4, 2, hidden=(8,))
    x = torch.rand(7, 4)
    with torch.no_grad():
        assert torch.equal(enc.sample(x), enc(x)[0])
