using System.Text.RegularExpressions;

namespace Ferry.Tests.Hosting;

/// <summary>
/// Other options are named in a problem by <see cref="Ferry.Stages.StageOptionsException.Mark"/> only: a <c>{key}</c> written in a
/// problem's text is no longer said in any reader's words and would reach every user as braces. This reads the sources for a problem
/// that still writes one (<c>{{key}}</c> in an interpolated string; <c>{key}</c> in a plain string that adds a problem or throws), so
/// that a message written with the old habit fails here rather than in front of a user.
/// </summary>
public sealed partial class WordsMarkGuardTests
{
    [Fact]
    public void No_problem_text_marks_a_key_with_braces()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Ferry.slnx")))
            root = root.Parent;
        Assert.NotNull(root);
        var found = new List<string>();
        var obj = $"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}";
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root.FullName, "src"), "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains(obj, StringComparison.Ordinal)))
        {
            var number = 0;
            foreach (var line in File.ReadLines(file))
            {
                number++;
                if (line.TrimStart().StartsWith("//", StringComparison.Ordinal))
                    continue;
                var marks = Interpolated().Matches(line).Concat(line.Contains("problems.Add(\"", StringComparison.Ordinal)
                    || line.Contains("Exception(\"", StringComparison.Ordinal) ? Plain().Matches(line) : []);
                // A subject template's {prefix} and {stage} are the user's text, not marks.
                found.AddRange(marks.Where(m => m.Groups["key"].Value is not ("prefix" or "stage"))
                    .Select(m => $"{Path.GetRelativePath(root.FullName, file)}:{number}: {m.Value}"));
            }
        }
        Assert.Empty(found);
    }

    [GeneratedRegex(@"\{\{(?<key>[a-z][a-z0-9_.]*)\}\}")]
    private static partial Regex Interpolated();

    [GeneratedRegex(@"(?<!\{)\{(?<key>[a-z][a-z0-9_.]*)\}(?!\})")]
    private static partial Regex Plain();
}
