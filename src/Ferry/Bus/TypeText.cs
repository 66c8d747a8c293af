namespace Ferry.Bus;

/// <summary>A type as C# writes it (<c>List&lt;string&gt;</c>), for messages: <c>Type.Name</c> says <c>List`1</c> for every list.</summary>
internal static class TypeText
{
    public static string Of(Type type)
    {
        if (type.IsArray)
            return $"{Of(type.GetElementType()!)}[{new string(',', type.GetArrayRank() - 1)}]";
        if (Nullable.GetUnderlyingType(type) is { } inner)
            return Of(inner) + "?";
        if (!type.IsGenericType)
            return type.Name;
        var name = type.Name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return $"{(tick < 0 ? name : name[..tick])}<{string.Join(", ", type.GetGenericArguments().Select(Of))}>";
    }
}
