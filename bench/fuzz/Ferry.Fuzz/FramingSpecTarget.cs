using System.Buffers;
using System.Text;
using Ferry.Framing;

/// <summary>
/// The <c>framingspec</c> target: <c>FramingSpec.Parse</c> on the input as a <c>--framing</c> spec: UTF-8, or, after a
/// first byte 0xFE, UTF-16LE taken as it is (so a lone surrogate, which a YAML or JSON <c>\uD800</c> escape in a pipeline
/// file's <c>framing:</c> yields and a UTF-8 argument cannot, reaches the parser too). Beside
/// "throws nothing but a FramingException" it checks that a refusal quotes the spec (<c>framing '…'</c>) or says it
/// is empty, and names what is allowed or expected; and that an accepted spec's canonical form (<c>IFraming.Spec</c>)
/// parses again to the same canonical form, limits and policy, and encodes a few payloads to the same bytes.
/// </summary>
internal static class FramingSpecTarget
{
    private static readonly byte[][] Payloads = [[], "hello"u8.ToArray(), [0, 1, 2, 0x0A, 0x0D, 0xFF]];

    /// <summary>Words by which an error names what is allowed or expected (the settings' and the registry's wording).</summary>
    private static readonly string[] Guidance = ["allowed", "expected", "must be", "e.g.", "use ", "is not key=value", "given twice", "empty setting", "is required", "at least", "at most", "from ", "needs", "not both"];

    public static void Run(byte[] data)
    {
        var spec = data.Length > 0 && data[0] == 0xFE
            ? new string(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(data.AsSpan(1, (data.Length - 1) & ~1)))
            : Encoding.UTF8.GetString(data);
        IFraming framing;
        try
        {
            framing = FramingSpec.Parse(spec);
        }
        catch (FramingException e)
        {
            var message = e.Message;
            if (!message.StartsWith("framing '", StringComparison.Ordinal) && !message.StartsWith("framing spec is empty", StringComparison.Ordinal))
                throw new InvalidOperationException($"an error that does not quote the spec: {Printable(message)}");
            if (!Guidance.Any(word => message.Contains(word, StringComparison.Ordinal)))
                throw new InvalidOperationException($"an error that does not say what is allowed: {Printable(message)}");
            return;
        }

        var canonical = framing.Spec;
        IFraming again;
        try
        {
            again = FramingSpec.Parse(canonical);
        }
        catch (FramingException e)
        {
            throw new InvalidOperationException($"'{spec}' parses, but its canonical form '{canonical}' does not: {e.Message}");
        }
        if (again.Spec != canonical)
            throw new InvalidOperationException($"'{spec}' formats as '{canonical}', which formats as '{again.Spec}'");
        if (again.GetType() != framing.GetType() || again.MaxFrameBytes != framing.MaxFrameBytes || again.OnError != framing.OnError
            || again.FrameOverheadBytes != framing.FrameOverheadBytes || again.IsRaw != framing.IsRaw)
            throw new InvalidOperationException($"'{spec}' and its canonical form '{canonical}' differ in limits or policy");
        foreach (var payload in Payloads)
        {
            var first = Encode(framing, payload);
            var second = Encode(again, payload);
            if (first != second)
                throw new InvalidOperationException($"'{spec}' and its canonical form '{canonical}' encode {Convert.ToHexString(payload)} differently: {first} / {second}");
        }
    }

    /// <summary>Control characters as \uHHHH, so a replayed crash's message prints whole.</summary>
    private static string Printable(string text) =>
        string.Concat(text.Select(c => char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:X4}" : c.ToString()));

    /// <summary>The encoding as hex, or the refusal's message (both forms must refuse the same payloads).</summary>
    private static string Encode(IFraming framing, byte[] payload)
    {
        var output = new ArrayBufferWriter<byte>();
        try
        {
            framing.Encoder.Encode(payload, new FrameFields(7, 3, 5, 1, 2), output);
            return Convert.ToHexString(output.WrittenSpan);
        }
        catch (FramingException e)
        {
            return "refused: " + e.Message.Replace(framing.Spec, "SPEC", StringComparison.Ordinal);
        }
    }
}
