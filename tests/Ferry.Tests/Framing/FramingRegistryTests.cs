using System.Buffers;
using Ferry.Framing;

namespace Ferry.Tests.Framing;

public sealed class FramingRegistryTests
{
    [Fact]
    public void A_framing_from_another_assembly_is_added_and_parsed_with_its_settings()
    {
        var registry = new FramingRegistry();
        registry.Add("tagged", settings => new TaggedFraming(settings.Int("tag_bits", 8, 1, 16)));
        var framing = Assert.IsType<TaggedFraming>(registry.Parse("tagged,tag_bits=12"));
        Assert.Equal(12, framing.TagBits);
        Assert.Equal(["tagged"], registry.Names);
        var error = Assert.Throws<FramingException>(() => registry.Parse("tagged,tag_bits=40"));
        Assert.Equal("framing 'tagged,tag_bits=40': tag_bits=40: must be a whole number from 1 to 16", error.Message);
        error = Assert.Throws<FramingException>(() => registry.Parse("tagged,colour=red"));
        Assert.Equal("framing 'tagged,colour=red': unknown setting 'colour' for tagged (allowed: tag_bits)", error.Message);
    }

    [Fact]
    public async Task A_stage_carries_a_custom_framing_and_its_custom_header_field_both_ways()
    {
        await using var h = new FerryTestServer(new Ferry.Stages.TcpServerStageOptions { Framing = new TaggedFraming(8) });
        await h.StartAsync();
        using var client = await h.ConnectAsync();
        await client.SendAsync([7, 3, (byte)'a', (byte)'b', (byte)'c']);
        var packet = (await h.WaitForPacketsAsync(p => p.Count == 1, "the tagged frame")).Single();
        Assert.Equal("abc"u8.ToArray(), packet.Payload);
        Assert.Equal(7UL, TaggedFraming.Tag.Read(packet.Fields));
        Assert.True(await h.Stage.SendAsync(packet.Connection, "xy"u8.ToArray(), TaggedFraming.Tag.Write(FrameFields.None, 42)));
        Assert.Equal(new byte[] { 42, 2, (byte)'x', (byte)'y' }, await client.ReceiveExactlyAsync(4));
    }

    [Fact]
    public void A_name_cannot_be_taken_twice_or_contain_spec_punctuation()
    {
        var registry = new FramingRegistry();
        registry.Add("tagged", _ => new TaggedFraming(8));
        Assert.Contains("already registered", Assert.Throws<ArgumentException>(() => registry.Add("tagged", _ => new TaggedFraming(9))).Message);
        Assert.Contains("one word", Assert.Throws<ArgumentException>(() => registry.Add("a,b", _ => new TaggedFraming(9))).Message);
    }

    [Fact]
    public void The_default_registry_has_the_built_in_framings_and_the_bridge_adds_zmtp()
    {
        Assert.Equal(["delimiter", "fixed", "header", "length", "lines", "mux", "raw", "text-length", "u16be", "u32be", "zmtp"], FramingSpec.Names.ToArray());
        Assert.Equal("zmtp", FramingSpec.Parse("zmtp,socket=pull").Spec.Split(',')[0]);
    }

    [Fact]
    public void Header_fields_are_listed_by_the_framings_that_carry_them()
    {
        Assert.Equal(["msg_type", "flags"], FramingSpec.Parse("header").HeaderFields.Select(f => f.Name));
        Assert.Equal(["stream"], FramingSpec.Parse("mux").HeaderFields.Select(f => f.Name));
        Assert.Equal(["flags", "channel", "error"], FramingSpec.Parse("zmtp,socket=pull,message=rogue").HeaderFields.Select(f => f.Name));
        Assert.Empty(FramingSpec.Parse("lines").HeaderFields);
    }

    [Fact]
    public void Custom_fields_share_the_custom_word_without_overlapping()
    {
        var kind = FrameField.Custom("kind", 0, 4);
        var sequence = FrameField.Custom("sequence", 4, 32);
        var fields = sequence.Write(kind.Write(FrameFields.None, 9), 123456789);
        Assert.Equal(9UL, kind.Read(fields));
        Assert.Equal(123456789UL, sequence.Read(fields));
        fields = kind.Write(fields, 3);
        Assert.Equal(3UL, kind.Read(fields));
        Assert.Equal(123456789UL, sequence.Read(fields));
        Assert.Equal(15UL, kind.MaxValue);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => kind.Write(fields, 16));
        Assert.Contains("header field 'kind' takes 0 to 15", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameField.Custom("too_wide", 40, 32));
    }

    [Fact]
    public void The_framing_layer_does_not_depend_on_the_bridge_and_the_bridge_not_on_stage_internals()
    {
        var src = Path.Combine(RepositoryRoot(), "src", "Ferry");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(src, "Framing"), "*.cs", SearchOption.AllDirectories))
            Assert.DoesNotContain("Bridge", File.ReadAllText(file));
        foreach (var file in Directory.EnumerateFiles(Path.Combine(src, "Bridge"), "*.cs", SearchOption.AllDirectories))
            Assert.DoesNotContain("Stages.Internal", File.ReadAllText(file));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ferry.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("the repository root (Ferry.slnx) was not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A framing defined outside Ferry: one custom header byte (a tag) before a 1-byte length.</summary>
    private sealed class TaggedFraming(int tagBits) : IFraming, IFrameEncoder, IFrameDecoder
    {
        public static readonly FrameField Tag = FrameField.Custom("tag", 0, 8);

        public int TagBits { get; } = tagBits;

        public string Spec => $"tagged,tag_bits={TagBits}";

        public int MaxFrameBytes => 255;

        public FrameErrorPolicy OnError => FrameErrorPolicy.Close;

        public IReadOnlyList<FrameField> HeaderFields => [Tag];

        public IFrameEncoder Encoder => this;

        public IFrameDecoder CreateDecoder() => this;

        public int GetEncodedLength(int payloadLength) => payloadLength + 2;

        public void Encode(ReadOnlySpan<byte> payload, in FrameFields fields, IBufferWriter<byte> output)
        {
            var span = output.GetSpan(payload.Length + 2);
            span[0] = (byte)Tag.Read(fields);
            span[1] = (byte)payload.Length;
            payload.CopyTo(span[2..]);
            output.Advance(payload.Length + 2);
        }

        public DecodeStatus Decode(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
        {
            payload = default;
            fields = default;
            error = default;
            if (input.Length < 2)
                return DecodeStatus.NeedMoreData;
            Span<byte> header = stackalloc byte[2];
            input.Slice(0, 2).CopyTo(header);
            if (input.Length < 2 + header[1])
                return DecodeStatus.NeedMoreData;
            fields = Tag.Write(FrameFields.None, header[0]);
            payload = input.Slice(2, header[1]);
            input = input.Slice(2 + header[1]);
            return DecodeStatus.Frame;
        }

        public DecodeStatus DecodeEnd(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out FrameFields fields, out FrameError error)
            => Decode(ref input, out payload, out fields, out error);
    }
}
