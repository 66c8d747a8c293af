namespace Ferry.Transport.Tls;

/// <summary>
/// Follows the TLS record boundaries in the ciphertext a connection receives, and remembers when the
/// record not yet complete began: the stage's frame deadline covers it, because until a record is whole
/// no plaintext reaches the framing and a client trickling one byte at a time would otherwise hold its
/// slot for ever (a 16 KiB record at a byte a second is four and a half hours).
/// </summary>
/// <remarks>
/// Fed every ciphertext byte from the first byte of the handshake, in order (never a PROXY header read in
/// the clear before it), it walks headers (5 bytes: type, version, length) and skips bodies: a few
/// comparisons per record, nothing per byte. A header that is not TLS stops the watch (the TLS engine
/// refuses those bytes anyway). <see cref="Observe"/> is called by one reader at a time; the start is
/// published for the service thread's deadline scan.
/// </remarks>
internal sealed class TlsRecordWatch(TimeProvider time)
{
    private const int HeaderBytes = 5;
    /// <summary>The largest record a peer may send: 2^14 plaintext plus TLS 1.2's most expansion (RFC 5246 6.2.3).</summary>
    private const int MaxRecordBytes = (1 << 14) + 2048;
    private const long None = long.MinValue;

    private int _headerSeen;
    private int _length;
    private int _bodyLeft;
    private bool _lost;
    /// <summary>The <see cref="TimeProvider"/> timestamp of the unfinished record's first byte, or <see cref="None"/>.</summary>
    private long _since = None;
    /// <summary>How many of the stream's first six bytes have been seen: the first record's type and its first handshake message's.</summary>
    private int _openingSeen;
    private byte _firstRecordType;
    private byte _firstMessageType;

    /// <summary>Takes the next received ciphertext.</summary>
    public void Observe(ReadOnlySpan<byte> ciphertext)
    {
        if (_openingSeen < HeaderBytes + 1)
            SeeOpening(ciphertext);
        if (_lost || ciphertext.IsEmpty)
            return;
        var began = false;
        var at = 0;
        while (at < ciphertext.Length)
        {
            if (_bodyLeft > 0)
            {
                var skip = Math.Min(_bodyLeft, ciphertext.Length - at);
                _bodyLeft -= skip;
                at += skip;
                continue;
            }
            if (_headerSeen == 0)
                began = true;
            var b = ciphertext[at++];
            switch (_headerSeen++)
            {
                case 0 when b is < 20 or > 24:
                case 1 when b != 3:
                    Lose();
                    return;
                case 3:
                    _length = b << 8;
                    break;
                case 4:
                    _length |= b;
                    if (_length > MaxRecordBytes)
                    {
                        Lose();
                        return;
                    }
                    _bodyLeft = _length;
                    _headerSeen = 0;
                    break;
            }
        }
        if (_headerSeen == 0 && _bodyLeft == 0)
            Volatile.Write(ref _since, None);
        else if (began)
            // The unfinished record is the last one begun, and it began in these bytes.
            Volatile.Write(ref _since, time.GetTimestamp());
    }

    private void SeeOpening(ReadOnlySpan<byte> ciphertext)
    {
        for (var i = 0; i < ciphertext.Length && _openingSeen <= HeaderBytes; i++, _openingSeen++)
        {
            if (_openingSeen == 0)
                _firstRecordType = ciphertext[i];
            else if (_openingSeen == HeaderBytes)
                _firstMessageType = ciphertext[i];
        }
    }

    /// <summary>
    /// What is wrong with how a client's stream began, in words, or null when it began as a TLS client's does (a handshake record
    /// whose first message is a ClientHello) or too little of it came to tell. SslStream's words for such a stream mislead
    /// (a ClientHello's type byte changed reads as "The server mode SSL must use a certificate with the associated private
    /// key"): a failed handshake is told in these instead. Read after the handshake failed, on the thread that ran it.
    /// </summary>
    public string? ClientOpeningProblem()
    {
        const byte Handshake = 22, ClientHello = 1;
        if (_openingSeen == 0)
            return null;
        if (_firstRecordType != Handshake)
            return $"the client's first bytes are not a TLS handshake record (a record type of {_firstRecordType}, 0x{_firstRecordType:x2}, where 22 begins a handshake; a client not speaking TLS?)";
        if (_openingSeen > HeaderBytes && _firstMessageType != ClientHello)
            return $"the client's first handshake message is not a ClientHello (message type {_firstMessageType}, where a ClientHello is 1)";
        return null;
    }

    /// <summary>Whether a record has begun and not ended; <paramref name="sinceTimestamp"/> is when its first byte came (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    public bool HoldsPartialRecord(out long sinceTimestamp)
    {
        sinceTimestamp = Volatile.Read(ref _since);
        return sinceTimestamp != None;
    }

    private void Lose()
    {
        _lost = true;
        Volatile.Write(ref _since, None);
    }
}
