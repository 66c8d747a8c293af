using System.Xml.Linq;

namespace Ferry.Tests.Stages;

/// <summary>What IntelliSense shows for <c>ConnectionHandler</c> (the delegate's XML doc) agrees with the schedulings.</summary>
public sealed class ConnectionHandlerDocsTests
{
    [Fact]
    public void The_handlers_doc_says_where_it_runs_under_both_schedulings()
    {
        // Before: "Runs on the thread pool, never on the stage's service thread", which HandlerScheduling.Inline contradicts.
        var docs = XDocument.Load(Path.Combine(AppContext.BaseDirectory, "Ferry.xml"));
        var summary = docs.Descendants("member").Single(m => (string?)m.Attribute("name") == "T:Ferry.Stages.ConnectionHandler").Element("summary")!;
        var crefs = summary.Descendants("see").Select(s => (string?)s.Attribute("cref")).ToList();
        Assert.Contains("F:Ferry.Stages.HandlerScheduling.Inline", crefs);
        Assert.Contains("F:Ferry.Stages.HandlerScheduling.ThreadPool", crefs);
        Assert.Contains("on the stage's service", summary.Value.Replace("\n", " ").Replace("///", ""));
    }
}
