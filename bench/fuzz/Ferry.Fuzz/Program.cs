using System.Buffers;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Ferry.Framing;
using Ferry.Stages;
using SharpFuzz;

// The AFL++ harness: `Ferry.Fuzz TARGET` under afl-fuzz (bench/fuzz/run.sh), or `Ferry.Fuzz TARGET FILE...`
// to replay inputs (a crash from findings/, or the seed corpus) without AFL; `Ferry.Fuzz seeds DIR` writes
// the seed corpus (DIR/TARGET/*) with Ferry's own encoders.
//
// Decoder and session targets read their first input byte as options (bit 0: on_error=skip, bit 1: each
// read its own segment, bits 2..7: the largest read, 1 + 4·n bytes) and the rest as the bytes a peer sent.
// They drive the decoder the way the stage does and throw (a crash for AFL) when a decoder throws, returns
// an unknown status, makes no progress, consumes past its input, or leaves more than
// max_frame_bytes + overhead unconsumed after a read.
//
// Instrumented code writes its coverage to SharpFuzz's map, which Fuzzer.Run sets up: nothing may touch
// Ferry (not even a static constructor) before that. Outside afl-fuzz the harness gives it a map of its own.

if (args.Length < 1 || (args[0] != "seeds" && !Targets.All.ContainsKey(args[0])))
{
    Console.Error.WriteLine($"usage: Ferry.Fuzz TARGET [FILE...] | Ferry.Fuzz seeds DIR   targets: {string.Join(", ", Targets.All.Keys)}");
    return 2;
}

if (args.Length > 1)
{
    Coverage.UseOwnMap();
    if (args[0] == "seeds")
    {
        Seeds.Write(args[1]);
        return 0;
    }
    var replay = Targets.All[args[0]]();
    foreach (var file in args.Skip(1))
    {
        replay(File.ReadAllBytes(file));
        Console.WriteLine($"{file}: ok");
    }
    return 0;
}

var create = Targets.All[args[0]];
Action<byte[]>? target = null;
Fuzzer.Run(stream =>
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    target ??= create();
    target(copy.ToArray());
});
return 0;

internal static class Coverage
{
    /// <summary>A coverage map for runs outside afl-fuzz, so that instrumented code has somewhere to write.</summary>
    public static unsafe void UseOwnMap() => SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(1 << 16);
}

internal static class Targets
{
    private const int MaxFrameBytes = 64;

    public static readonly Dictionary<string, Func<Action<byte[]>>> All = new()
    {
        ["lines"] = () => Decoder("lines"),
        ["delimiter"] = () => Decoder(@"delimiter,delim=\r\n,include=true"),
        ["delimiter-prefix"] = () => Decoder("delimiter,delim=ab,position=prefix"),
        ["length"] = () => Decoder("length"),
        ["length-le"] = () => Decoder("length,bytes=3,endian=little,offset=2,adjust=-4,strip=5"),
        ["length8"] = () => Decoder("length,bytes=8,endian=little,offset=1,strip=0"),
        ["u16be"] = () => Decoder("u16be"),
        ["u32be"] = () => Decoder("u32be"),
        ["fixed"] = () => Decoder("fixed,size=5"),
        ["header"] = () => Decoder("header"),
        ["text-length"] = () => Decoder("text-length"),
        ["mux"] = () => Decoder("mux"),
        ["zmtp"] = () => Decoder("zmtp,socket=pull,message=rogue"),
        ["zmtp-push"] = () => Decoder("zmtp,socket=push,message=single"),
        ["stdin"] = () => Stdin.Run,
        ["proxy"] = () => ProxyTarget.Run,
        ["runfile"] = () => RunFileTarget.Run,
        ["framingspec"] = () => FramingSpecTarget.Run,
        ["control"] = () => ControlTarget.Run,
    };

    private static Action<byte[]> Decoder(string spec)
    {
        var framings = new[]
        {
            FramingSpec.Parse($"{spec},max_frame_bytes={MaxFrameBytes},on_error=close"),
            FramingSpec.Parse($"{spec},max_frame_bytes={MaxFrameBytes},on_error=skip"),
        };
        return data =>
        {
            if (data.Length == 0)
                return;
            var options = data[0];
            StageDriver.Run(framings[options & 1], data.AsMemory(1), segmented: (options & 2) != 0, maxRead: 1 + 4 * (options >> 2));
        };
    }
}

/// <summary>Drives one decoder (or session) over a stream, as the server stage does, checking its contract.</summary>
internal static class StageDriver
{
    public static void Run(IFraming framing, ReadOnlyMemory<byte> stream, bool segmented, int maxRead)
    {
        IFrameDecoder decoder;
        if (framing is ISessionFraming sessionFraming)
        {
            var session = sessionFraming.CreateSession(new ArrayBufferWriter<byte>());
            session.Start();
            decoder = session;
        }
        else
        {
            decoder = framing.CreateDecoder();
        }

        var backstop = (long)framing.MaxFrameBytes + framing.FrameOverheadBytes;
        var pending = new List<ReadOnlyMemory<byte>>();
        var read = 0;
        for (var position = 0; position < stream.Length;)
        {
            // Read sizes vary with the position, so one input explores several cuts.
            var n = Math.Min(1 + (position * 7 + read++ * 13) % maxRead, stream.Length - position);
            pending.Add(stream.Slice(position, n).ToArray());
            position += n;
            var input = Build(pending, segmented);
            var status = Loop(decoder, ref input, atEnd: false);
            Keep(pending, input);
            if (status == DecodeStatus.Error)
                return;
            long unconsumed = 0;
            foreach (var piece in pending)
                unconsumed += piece.Length;
            if (unconsumed > backstop)
                throw new InvalidOperationException($"{framing.Spec}: {unconsumed} bytes unconsumed after a read, over max_frame_bytes + overhead = {backstop}");
        }
        var rest = Build(pending, segmented);
        Loop(decoder, ref rest, atEnd: true);
    }

    private static DecodeStatus Loop(IFrameDecoder decoder, ref ReadOnlySequence<byte> input, bool atEnd)
    {
        var end = input.End;
        for (var guard = 0; ; guard++)
        {
            if (guard > 1_000_000)
                throw new InvalidOperationException("the decoder makes no progress");
            var before = input.Length;
            var status = atEnd
                ? decoder.DecodeEnd(ref input, out var payload, out _, out var error)
                : decoder.Decode(ref input, out payload, out _, out error);
            if (input.Length > before || !input.End.Equals(end))
                throw new InvalidOperationException("the decoder moved the end of its input or grew it");
            switch (status)
            {
                case DecodeStatus.Frame:
                    if (input.Length == before)
                        throw new InvalidOperationException("a frame consumed nothing");
                    _ = payload.ToArray();
                    break;
                case DecodeStatus.Skipped:
                    if (error.Kind == FrameErrorKind.None || string.IsNullOrEmpty(error.Detail))
                        throw new InvalidOperationException("a skip without an error");
                    if (atEnd)
                        return status;
                    if (input.Length == before)
                        throw new InvalidOperationException("a skip consumed nothing");
                    break;
                case DecodeStatus.Error:
                    if (error.Kind == FrameErrorKind.None || string.IsNullOrEmpty(error.Detail))
                        throw new InvalidOperationException("an error without a kind or detail");
                    return status;
                case DecodeStatus.NeedMoreData:
                    if (!payload.IsEmpty)
                        throw new InvalidOperationException("NeedMoreData with a payload");
                    return status;
                default:
                    throw new InvalidOperationException($"unknown status {status}");
            }
        }
    }

    private static ReadOnlySequence<byte> Build(List<ReadOnlyMemory<byte>> pending, bool segmented)
    {
        if (pending.Count == 0)
            return ReadOnlySequence<byte>.Empty;
        if (!segmented)
        {
            var all = new byte[pending.Sum(p => p.Length)];
            var at = 0;
            foreach (var piece in pending)
            {
                piece.Span.CopyTo(all.AsSpan(at));
                at += piece.Length;
            }
            return new ReadOnlySequence<byte>(all);
        }
        var first = new Segment(pending[0], 0);
        var last = first;
        for (var i = 1; i < pending.Count; i++)
            last = last.Append(pending[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static void Keep(List<ReadOnlyMemory<byte>> pending, ReadOnlySequence<byte> rest)
    {
        var kept = new List<ReadOnlyMemory<byte>>();
        foreach (var memory in rest)
        {
            if (!memory.IsEmpty)
                kept.Add(memory.ToArray()); // a copy: the decoder must not rely on the memory of an earlier call
        }
        pending.Clear();
        pending.AddRange(kept);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

/// <summary>
/// <c>ferry serve</c>'s stdin command reader (<c>Ferry.Cli.StdinCommands</c>, internal) fed each input line,
/// against a stage that was never started (no connections). A command the reader refuses throws its
/// <c>CommandException</c>, which <c>RunAsync</c> turns into an <c>error</c> line; any other exception would
/// end the reader, so it is a crash here.
/// </summary>
internal static class Stdin
{
    private static readonly Lazy<(object Commands, MethodInfo Execute)> Reader = new(() =>
    {
        var cli = Assembly.Load("Ferry.Cli");
        var stage = new TcpServerStage(new TcpServerStageOptions
        {
            Bind = "127.0.0.1:0",
            Framing = FramingSpec.Parse("u16be,max_frame_bytes=16"),
            EgressBufferBytes = 256,
        });
        var writer = Activator.CreateInstance(cli.GetType("Ferry.Cli.JsonLineWriter", throwOnError: true)!, TextWriter.Null)!;
        var type = cli.GetType("Ferry.Cli.StdinCommands", throwOnError: true)!;
        var commands = Activator.CreateInstance(type, stage, writer)!;
        return (commands, type.GetMethod("ExecuteAsync")!);
    });

    public static void Run(byte[] data)
    {
        var (commands, execute) = Reader.Value;
        foreach (var line in Encoding.UTF8.GetString(data).Split('\n'))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            try
            {
                ((Task)execute.Invoke(commands, [line, CancellationToken.None])!).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e.GetType().Name == "CommandException")
            {
            }
        }
    }
}

/// <summary>The seed corpus: a few valid streams per target (made by the framings' encoders) and a few bad ones.</summary>
internal static class Seeds
{
    public static void Write(string corpus)
    {
        var specs = new Dictionary<string, string>
        {
            ["lines"] = "lines",
            ["delimiter"] = @"delimiter,delim=\r\n,include=true",
            ["delimiter-prefix"] = "delimiter,delim=ab,position=prefix",
            ["length"] = "length",
            ["length-le"] = "length,bytes=3,endian=little,offset=2,adjust=-4,strip=5",
            ["length8"] = "length,bytes=8,endian=little,offset=1,strip=0",
            ["u16be"] = "u16be",
            ["u32be"] = "u32be",
            ["fixed"] = "fixed,size=5",
            ["header"] = "header",
            ["text-length"] = "text-length",
            ["mux"] = "mux",
            ["zmtp"] = "zmtp,socket=push,message=rogue",
            ["zmtp-push"] = "zmtp,socket=pull,message=single",
        };
        foreach (var (target, spec) in specs)
        {
            var dir = Path.Combine(corpus, target);
            Directory.CreateDirectory(dir);
            var framing = FramingSpec.Parse($"{spec},max_frame_bytes=64");
            var handshake = new ArrayBufferWriter<byte>();
            if (framing is ISessionFraming)
            {
                // What a peer of the fuzzed end sends first: its greeting and READY (a session of the other type writes them).
                var peer = (ISessionFraming)FramingSpec.Parse(spec);
                var session = peer.CreateSession(handshake);
                session.Start();
                var theirs = new ArrayBufferWriter<byte>();
                ((ISessionFraming)FramingSpec.Parse(spec.Contains("push") ? "zmtp,socket=pull" : "zmtp,socket=push")).CreateSession(theirs).Start();
                var input = new ReadOnlySequence<byte>(theirs.WrittenMemory);
                session.Decode(ref input, out _, out _, out _);
            }
            // A pull end does not send: the push end's seeds carry messages a push would send, which it drops.
            var encoder = framing.Spec.StartsWith("zmtp,socket=pull", StringComparison.Ordinal)
                ? FramingSpec.Parse("zmtp,socket=push,message=single,max_frame_bytes=64").Encoder
                : framing.Encoder;
            var payloads = new[] { ""u8.ToArray(), "hello"u8.ToArray(), "12345"u8.ToArray(), Enumerable.Range(0, 64).Select(i => (byte)i).ToArray() };
            var index = 0;
            foreach (byte options in new byte[] { 0, 1, 0b1111_1110, 0b0000_0110 })
            {
                var output = new ArrayBufferWriter<byte>();
                output.Write([options]);
                output.Write(handshake.WrittenSpan);
                foreach (var payload in payloads)
                {
                    if (framing is FixedFraming f && payload.Length != f.Size)
                        continue;
                    try
                    {
                        encoder.Encode(payload, new FrameFields(7, 3, 5, 1, 2), output);
                    }
                    catch (FramingException)
                    {
                        // a payload this framing cannot carry (e.g. a too-short one for strip < header)
                    }
                }
                File.WriteAllBytes(Path.Combine(dir, $"valid-{index++}"), output.WrittenSpan.ToArray());
            }
            File.WriteAllBytes(Path.Combine(dir, "garbage-0"), [1, .. "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8]);
            File.WriteAllBytes(Path.Combine(dir, "garbage-1"), [0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0x7f, 1, 2, 3]);
        }

        var stdin = Path.Combine(corpus, "stdin");
        Directory.CreateDirectory(stdin);
        string[] commands =
        [
            """{"type":"send","conn":"c1","text":"hello"}""",
            """{"type":"send_any","base64":"aGVsbG8="}""",
            """{"type":"broadcast","text":"x","except":"c2","msg_type":3}""",
            """{"type":"group_send","group":"g","hex":"0102"}""",
            """{"type":"join","conn":"c1","group":"g"}""",
            """{"type":"leave","conn":"c1","group":"g"}""",
            """{"type":"close","conn":"c1","reason":"bye","code":"x"}""",
            """{"type":"connections"}""",
            """{"type":"broadcast","text":"this payload is over sixteen bytes"}""",
            """{"type":"nope"}""",
            """[1,2,{"type":3}]""",
        ];
        for (var i = 0; i < commands.Length; i++)
            File.WriteAllText(Path.Combine(stdin, $"command-{i}"), commands[i] + "\n");

        ExtraSeeds.Write(corpus);
    }
}
