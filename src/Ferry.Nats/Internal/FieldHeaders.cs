using System.Globalization;
using Ferry.Framing;
using NATS.Client.Core;

namespace Ferry.Nats.Internal;

/// <summary>
/// The header fields a stage's framing carries (<see cref="IFraming.HeaderFields"/>) as NATS headers, in
/// both directions. Works for any framing, including ones defined outside Ferry: a field named
/// <c>msg_type</c> travels as <c>msg.type</c>, <c>stream</c> as <c>stream.id</c>.
/// </summary>
internal sealed class FieldHeaders(IReadOnlyList<FrameField> fields)
{
    public static FieldHeaders For(IFraming framing) => new(framing.HeaderFields);

    /// <summary>The NATS header that carries <paramref name="field"/>.</summary>
    public static string HeaderName(FrameField field) => field.Name switch
    {
        "stream" => NatsHeaderNames.StreamId,
        var name => name.Replace('_', '.'),
    };

    public void Write(in FrameFields values, NatsHeaders headers)
    {
        foreach (var field in fields)
            headers[HeaderName(field)] = field.Read(values).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Reads the framing's field headers that are present (absent means zero); false with the problem for a bad value.</summary>
    public bool TryRead(NatsHeaders? headers, out FrameFields values, out string? problem)
    {
        values = default;
        problem = null;
        if (headers is null)
            return true;
        foreach (var field in fields)
        {
            var name = HeaderName(field);
            if (!headers.TryGetLastValue(name, out var text))
                continue;
            if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > field.MaxValue)
            {
                problem = $"header '{name}': '{text}' is not allowed; must be a whole number from 0 to {field.MaxValue}";
                return false;
            }
            values = field.Write(values, value);
        }
        return true;
    }
}
