namespace CardGateway;

/// <summary>
/// One ISO 8583-style message: a message type indicator (<c>0200</c>: financial request) and its data
/// elements by number. The values are copies (strings): a message outlives the buffer it was read from.
/// </summary>
/// <param name="Mti">Four digits: version, class, function, origin.</param>
/// <param name="Fields">Data elements by number (2 = PAN, 3 = processing code, 4 = amount, 11 = STAN, 39 = response code, 41 = terminal id).</param>
public sealed record IsoMessage(string Mti, IReadOnlyDictionary<int, string> Fields)
{
    /// <summary>A data element, or null when absent.</summary>
    public string? this[int field] => Fields.TryGetValue(field, out var value) ? value : null;
}

/// <summary>Why a message was refused; <see cref="Code"/> goes into the kill switch's close command.</summary>
/// <param name="Code">A short machine code (<c>invalid_mti</c>, <c>bad_bitmap</c>, <c>unsupported_field</c>, <c>bad_field</c>, <c>missing_field</c>, <c>trailing_bytes</c>).</param>
/// <param name="Detail">What exactly was wrong and where.</param>
public sealed record IsoViolation(string Code, string Detail);
