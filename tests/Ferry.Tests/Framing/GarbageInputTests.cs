using Ferry.Framing;
using Ferry.Tests.Framing.Support;

namespace Ferry.Tests.Framing;

/// <summary>
/// Whatever a peer sends, a decoder returns a status (never throws), makes progress, and keeps no more
/// than max_frame_bytes + overhead buffered (the simulator checks the last two on every receive).
/// </summary>
public sealed class GarbageInputTests
{
    private static ReadOnlySpan<byte> Specials => "\n\r0123ab\0\x01\x02"u8;

    public static TheoryData<string> Specs =>
    [
        "raw,max_frame_bytes=64",
        "lines,max_frame_bytes=64",
        @"delimiter,delim=\r\n,max_frame_bytes=64",
        "delimiter,delim=ab,position=prefix,max_frame_bytes=64",
        "length,max_frame_bytes=64",
        "length,bytes=1,adjust=-1,max_frame_bytes=64",
        "length,bytes=8,endian=little,offset=3,max_frame_bytes=64",
        "fixed,size=5,max_frame_bytes=64",
        "header,max_frame_bytes=64",
        "mux,max_frame_bytes=64",
        "text-length,max_frame_bytes=64",
    ];

    [Theory]
    [MemberData(nameof(Specs))]
    public void Random_bytes_never_break_the_decoder(string spec)
    {
        foreach (var policy in new[] { "close", "skip" })
        {
            var framing = FramingSpec.Parse($"{spec},on_error={policy}");
            for (var seed = 0; seed < 60; seed++)
            {
                var rng = new Random(seed);
                var stream = new byte[rng.Next(0, 3000)];
                // Small values and the framings' own special bytes make plausible-looking headers.
                for (var i = 0; i < stream.Length; i++)
                    stream[i] = rng.Next(3) == 0 ? (byte)rng.Next(256) : Specials[rng.Next(Specials.Length)];
                foreach (var mode in Enum.GetValues<BufferMode>())
                {
                    var run = StageSimulator.Run(framing, stream, Chunkings.Random(stream.Length, seed, 100), mode, seed);
                    Assert.True(run.MaxUnconsumed <= framing.MaxFrameBytes + framing.FrameOverheadBytes);
                    foreach (var frame in run.Frames)
                        Assert.True(frame.Payload.Length <= framing.MaxFrameBytes + framing.FrameOverheadBytes);
                }
            }
        }
    }
}
