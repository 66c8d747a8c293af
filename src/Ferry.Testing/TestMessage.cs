using Ferry.Framing;

namespace Ferry.Testing;

/// <summary>One message a <see cref="FramedTestClient"/> received and decoded with its framing.</summary>
/// <param name="Payload">The message's bytes (a copy the test owns).</param>
/// <param name="Fields">The header fields of framings that carry them; zero otherwise.</param>
public sealed record TestMessage(byte[] Payload, FrameFields Fields)
{
    /// <summary>The payload as UTF-8 text.</summary>
    public string Text => System.Text.Encoding.UTF8.GetString(Payload);
}
