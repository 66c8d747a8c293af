using Ferry.Framing;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// <see cref="FramingRegistry.Parse"/> promises a <see cref="FramingException"/> for a spec it cannot build and a framing
/// otherwise. An application's factory that returned null made Parse return null (its signature says it never does), and
/// one that checked a setting with an argument guard let an <see cref="ArgumentOutOfRangeException"/> through, which the
/// hosts, catching <see cref="FramingException"/>, did not report as a configuration problem.
/// </summary>
public sealed class FramingFactoryTests
{
    [Fact]
    public void A_factory_that_returns_null_is_an_error_naming_the_framing()
    {
        var registry = new FramingRegistry();
        registry.Add("nothing", _ => null!);

        var error = Assert.Throws<FramingException>(() => registry.Parse("nothing"));

        Assert.Equal("framing 'nothing': the factory registered for 'nothing' returned no framing (null)", error.Message);
    }

    [Fact]
    public void A_factorys_argument_exception_is_a_framing_exception_quoting_the_spec_with_the_original_inside()
    {
        var registry = new FramingRegistry();
        registry.Add("block", settings =>
        {
            var size = settings.Int("size", 16, 1, 1 << 20);
            ArgumentOutOfRangeException.ThrowIfNotEqual(size % 16, 0, "size");
            return new FixedFraming(size);
        });

        var error = Assert.Throws<FramingException>(() => registry.Parse("block,size=20"));

        Assert.StartsWith("framing 'block,size=20': size ('4') must be equal to '0'.", error.Message);
        Assert.IsType<ArgumentOutOfRangeException>(error.InnerException);
        Assert.Equal(16, Assert.IsType<FixedFraming>(registry.Parse("block,size=16")).Size);
    }
}
