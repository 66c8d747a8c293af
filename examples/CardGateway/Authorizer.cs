using System.Globalization;

namespace CardGateway;

/// <summary>
/// The business step behind the codec: answers each request with its response MTI (request + 10)
/// and a response code: <c>00</c> approved, <c>51</c> insufficient funds (an amount over the limit),
/// <c>30</c> format error (a field the request type requires is missing).
/// </summary>
public sealed class Authorizer(long limitMinorUnits)
{
    private static readonly Dictionary<string, int[]> Required = new()
    {
        ["0100"] = [2, 3, 4, 11, 41],
        ["0200"] = [2, 3, 4, 11, 41],
        ["0400"] = [2, 4, 11, 41],
        ["0800"] = [11],
    };

    /// <summary>The response to <paramref name="request"/> (an MTI from <see cref="IsoCodec.RequestMtis"/>).</summary>
    public IsoMessage Respond(IsoMessage request)
    {
        var fields = new Dictionary<int, string>();
        foreach (var echoed in new[] { 3, 4, 7, 11, 41 })
        {
            if (request[echoed] is { } value)
                fields[echoed] = value;
        }
        fields[39] = Decide(request);
        var responseMti = $"{request.Mti[..2]}{request.Mti[2] - '0' + 1}{request.Mti[3]}";
        return new IsoMessage(responseMti, fields);
    }

    private string Decide(IsoMessage request)
    {
        if (Required[request.Mti].Any(field => request[field] is null))
            return "30";
        if (request.Mti is "0100" or "0200" && long.Parse(request[4]!, CultureInfo.InvariantCulture) > limitMinorUnits)
            return "51";
        return "00";
    }
}
