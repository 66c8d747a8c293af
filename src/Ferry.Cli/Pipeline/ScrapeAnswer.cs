using System.Text;

namespace Ferry.Cli.Pipeline;

/// <summary>
/// The exporter's answer as the scrape endpoint gives it: its body's latency counters made the histogram they are
/// (<see cref="LatencyHistogramExposition"/>), the length set for that body, and no <c>Server</c> header (the exporter's
/// listener sends it empty, which says nothing and is not valid HTTP).
/// </summary>
internal static class ScrapeAnswer
{
    /// <summary>The answer to send: <paramref name="response"/> (a whole HTTP/1.1 response, read to its end) rewritten.</summary>
    /// <param name="response">What the exporter's listener sent for the forwarded GET.</param>
    /// <param name="head">The client asked with HEAD: the headers of the GET's answer, without its body.</param>
    public static byte[] Rewrite(byte[] response, bool head)
    {
        var end = response.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0)
            return response; // not an HTTP answer: passed on as it came
        var lines = Encoding.ASCII.GetString(response, 0, end).Split("\r\n");
        var body = response.AsSpan(end + 4);
        var chunked = lines.Any(l => Header(l, "Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase));
        var bytes = chunked ? Dechunk(body) : body.ToArray();
        var ok = lines[0].Split(' ') is [_, "200", ..];
        if (ok)
            bytes = Encoding.UTF8.GetBytes(LatencyHistogramExposition.Rewrite(Encoding.UTF8.GetString(bytes)));
        var answer = new StringBuilder();
        answer.Append(lines[0]).Append("\r\n");
        foreach (var line in lines.Skip(1))
        {
            if (Header(line, "Server") is not null || Header(line, "Content-Length") is not null || Header(line, "Transfer-Encoding") is not null)
                continue;
            answer.Append(line).Append("\r\n");
        }
        answer.Append("Content-Length: ").Append(bytes.Length).Append("\r\n\r\n");
        var headBytes = Encoding.ASCII.GetBytes(answer.ToString());
        return head ? headBytes : [.. headBytes, .. bytes];
    }

    /// <summary>The value of <paramref name="line"/> when it is the header <paramref name="name"/>, else null.</summary>
    private static string? Header(string line, string name)
        => line.Length > name.Length && line[name.Length] == ':' && line.StartsWith(name, StringComparison.OrdinalIgnoreCase) ? line[(name.Length + 1)..].Trim() : null;

    /// <summary>A chunked body's data (RFC 9112 7.1); what follows the last chunk (trailers) is dropped.</summary>
    private static byte[] Dechunk(ReadOnlySpan<byte> body)
    {
        var data = new List<byte>(body.Length);
        while (true)
        {
            var lineEnd = body.IndexOf("\r\n"u8);
            if (lineEnd < 0)
                break;
            var sizeText = Encoding.ASCII.GetString(body[..lineEnd]).Split(';')[0].Trim();
            if (!int.TryParse(sizeText, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var size)
                || size <= 0 || lineEnd + 2 + size > body.Length)
                break;
            data.AddRange(body.Slice(lineEnd + 2, size));
            body = body[Math.Min(body.Length, lineEnd + 2 + size + 2)..];
        }
        return [.. data];
    }
}
