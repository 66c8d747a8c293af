using System.Globalization;
using System.Text;

namespace Ferry.Framing.Internal;

/// <summary>
/// Builds a framing's canonical spec: its name, then only the settings that differ from their
/// defaults, in a fixed order, so that <c>FramingSpec.Parse(f.Spec).Spec == f.Spec</c>.
/// Runs once per framing instance, never per frame.
/// </summary>
internal sealed class SpecText(string name)
{
    private readonly StringBuilder _text = new(name);

    public SpecText Add(string key, string value)
    {
        _text.Append(',').Append(key).Append('=').Append(value);
        return this;
    }

    public SpecText AddIf(bool condition, string key, string value) => condition ? Add(key, value) : this;

    public SpecText AddIf(bool condition, string key, long value) =>
        condition ? Add(key, value.ToString(CultureInfo.InvariantCulture)) : this;

    public SpecText AddIf(bool condition, string key, bool value) => condition ? Add(key, value ? "true" : "false") : this;

    public string Common(int maxFrameBytes, FrameErrorPolicy onError, FrameErrorPolicy defaultOnError = FrameErrorPolicy.Close) =>
        AddIf(maxFrameBytes != FramingDefaults.MaxFrameBytes, "max_frame_bytes", maxFrameBytes)
            .AddIf(onError != defaultOnError, "on_error", onError == FrameErrorPolicy.Skip ? "skip" : "close")
            ._text.ToString();
}
