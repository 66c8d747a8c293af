using Ferry.Transport.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Transport;

/// <summary>How the TLS record watch follows record boundaries in ciphertext however it is cut, and when it says a record began.</summary>
public sealed class TlsRecordWatchTests
{
    private static byte[] Record(int bodyLength, byte type = 23)
    {
        var record = new byte[5 + bodyLength];
        record[0] = type;
        record[1] = 3;
        record[2] = 3;
        record[3] = (byte)(bodyLength >> 8);
        record[4] = (byte)bodyLength;
        return record;
    }

    [Fact]
    public void Whole_records_leave_nothing_held_however_the_bytes_are_cut()
    {
        var stream = Record(300).Concat(Record(0)).Concat(Record(17000, type: 22)).Concat(Record(1)).ToArray();
        foreach (var cut in new[] { 1, 2, 5, 7, 301, 4096, stream.Length })
        {
            var watch = new TlsRecordWatch(new FakeTimeProvider());
            for (var at = 0; at < stream.Length; at += cut)
                watch.Observe(stream.AsSpan(at, Math.Min(cut, stream.Length - at)));
            Assert.False(watch.HoldsPartialRecord(out _), $"cut every {cut} bytes");
        }
    }

    [Fact]
    public void A_record_begun_is_held_from_its_first_byte_until_its_last()
    {
        var time = new FakeTimeProvider();
        var watch = new TlsRecordWatch(time);
        var first = Record(10);
        var second = Record(40);

        watch.Observe(first.AsSpan(0, 2)); // half a header is a record begun
        Assert.True(watch.HoldsPartialRecord(out var since));
        Assert.Equal(time.GetTimestamp(), since);
        time.Advance(TimeSpan.FromSeconds(5));
        watch.Observe(first.AsSpan(2, 5)); // more of the same record: still the first byte's time
        Assert.True(watch.HoldsPartialRecord(out var still));
        Assert.Equal(since, still);

        time.Advance(TimeSpan.FromSeconds(5));
        // The first ends and the second begins in the same read: the second's time is now.
        watch.Observe(first.AsSpan(7).ToArray().Concat(second.AsSpan(0, 9).ToArray()).ToArray());
        Assert.True(watch.HoldsPartialRecord(out var next));
        Assert.Equal(time.GetTimestamp(), next);

        watch.Observe(second.AsSpan(9));
        Assert.False(watch.HoldsPartialRecord(out _));
    }

    [Fact]
    public void Bytes_that_are_not_tls_records_stop_the_watch()
    {
        var watch = new TlsRecordWatch(new FakeTimeProvider());
        watch.Observe("GET / HTTP/1.1\r\n"u8);
        Assert.False(watch.HoldsPartialRecord(out _));
        watch.Observe(Record(10).AsSpan(0, 3));
        Assert.False(watch.HoldsPartialRecord(out _));

        var tooLong = new TlsRecordWatch(new FakeTimeProvider());
        tooLong.Observe([23, 3, 3, 0xff, 0xff, 1]);
        Assert.False(tooLong.HoldsPartialRecord(out _));
    }
}
