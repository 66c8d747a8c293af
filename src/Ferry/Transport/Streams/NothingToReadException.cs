namespace Ferry.Transport.Streams;

/// <summary>
/// A read right after a wake-up found nothing to read (see <see cref="WaitThenReadStream.ReportSpuriousWakeUps"/>):
/// nothing was taken, and the reader waits again. An <see cref="IOException"/>, so that
/// <see cref="System.Net.Security.SslStream"/> passes it on as it is instead of wrapping it.
/// </summary>
internal sealed class NothingToReadException() : IOException("A read after a wake-up found no bytes; nothing was taken.");
