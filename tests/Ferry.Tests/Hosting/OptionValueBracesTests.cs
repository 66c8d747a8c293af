using Ferry.Stages;

namespace Ferry.Tests.Hosting;

/// <summary>
/// The options' problems mark other keys as <c>{key}</c> for each reader to spell; the value a problem is about is the user's
/// text, so braces in it (a stage named <c>{abc}/x</c>) are never said as a key (it read "TcpServerStageOptions.Name: 'Abc/x'").
/// </summary>
public sealed class OptionValueBracesTests
{
    [Fact]
    public void A_value_in_braces_is_quoted_as_written()
    {
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { Name = "{abc}/x" }.Validate());
        Assert.Contains("TcpServerStageOptions.Name: '{abc}/x' is not allowed ('/' in it); a stage name is 1 to 128 characters without '/', '=', control or format characters, and without white space at either end", error.Problems);
        Assert.Contains("option 'name': '{abc}/x' is not allowed ('/' in it); a stage name is 1 to 128 characters without '/', '=', control or format characters, and without white space at either end", error.KeyedProblems);
    }

    [Fact]
    public void A_marked_key_after_the_value_is_still_said_as_a_property()
    {
        var error = Assert.Throws<StageOptionsException>(() => new TcpServerStageOptions { Name = "{abc}", BindRetryDelay = TimeSpan.FromMinutes(1) }.Validate());
        Assert.StartsWith("stage '{abc}': TcpServerStageOptions.BindRetryDelay: 1m is longer than 'BindRetryMaxDelay' 5s; lower BindRetryDelay or raise BindRetryMaxDelay", error.Message);
    }
}
