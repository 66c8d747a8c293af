using System.Text.RegularExpressions;
using Ferry.Stages;
using Ferry.Tests.Support;

namespace Ferry.Tests.ApiReview;

/// <summary>
/// The README named a stage's egress topic <c>tcp_server/egress</c> in one place and <c>S/egress_packets</c> in another; a
/// reader who subscribed to the first got nothing. Every stage topic the README and docs/ name (<c>`stage/topic`</c>) must
/// be one <see cref="StageTopics"/> makes.
/// </summary>
public sealed partial class TopicNamesInDocsTests
{
    /// <summary>What <see cref="StageTopics"/> puts after the stage's name, asked of the code rather than copied.</summary>
    private static readonly HashSet<string> Topics =
    [
        StageTopics.PacketGroup("s")[2..], StageTopics.EgressPackets("s")[2..], StageTopics.SocketStats("s")[2..],
        StageTopics.Events("s")[2..], StageTopics.Control("s")[2..],
    ];

    /// <summary>A backquoted <c>name/topic</c> whose topic looks like a stage's (packets, egress, stats, events, control).</summary>
    [GeneratedRegex(@"`([A-Za-z0-9_<>.\-]+)/((?:packet|egress|socket|event|control|stats)[a-z_]*)`")]
    private static partial Regex TopicMention();

    [Fact]
    public void Every_stage_topic_the_docs_name_is_one_the_stage_has()
    {
        var files = new[] { RepoFiles.Path("README.md") }.Concat(Directory.GetFiles(RepoFiles.Path("docs"), "*.md"));
        var wrong = new List<string>();
        var seen = 0;
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
                foreach (Match mention in TopicMention().Matches(lines[i]))
                {
                    seen++;
                    if (!Topics.Contains(mention.Groups[2].Value))
                        wrong.Add($"{Path.GetFileName(file)}:{i + 1}: {mention.Value}");
                }
        }
        Assert.True(seen > 5, $"only {seen} topic mentions found: the pattern no longer matches how the docs write them");
        // Before: README.md:763: `tcp_server/egress`.
        Assert.Empty(wrong);
    }
}
