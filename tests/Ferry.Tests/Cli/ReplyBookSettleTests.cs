using Ferry.Cli.Pipeline;
using Ferry.Connections;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Cli;

/// <summary>
/// What a stop of <c>ferry run</c> waits for before it closes the stages of a reply pair: the book is settled only when every
/// request is answered, given up, or counted lost, the ones still queued to be sent (under <c>egress_overflow: wait</c>)
/// included. Old code: a request only queued did not hold the book, so the stop could close the stages and report the
/// pair's losses while the queue was still being given up, and those losses came after the report or not at all.
/// </summary>
public sealed class ReplyBookSettleTests
{
    private static ReplyBook NewBook(List<string> losses) => new(new ReplyLoss("back", "front", losses.Add, new FakeTimeProvider()));

    [Fact]
    public void A_request_queued_to_be_sent_holds_the_book_until_it_is_sent_or_given_up()
    {
        var book = NewBook([]);
        book.Queued();
        book.Queued();
        book.Close();
        var settled = book.WhenSettledAsync();
        Assert.False(settled.IsCompleted);

        book.Unqueued();
        Assert.False(settled.IsCompleted);
        book.Unqueued();
        Assert.True(settled.IsCompletedSuccessfully);
    }

    [Fact]
    public void A_queued_request_that_is_sent_hands_the_book_on_to_its_answer()
    {
        var (upstream, client) = (new ConnectionId(1, 1), new ConnectionId(1, 2));
        var book = NewBook([]);
        book.Queued();
        var settled = book.WhenSettledAsync();

        // The pump reserves, sends and records it, then lets it leave the queue: the book now waits for its answer.
        Assert.True(book.TryReserve(upstream, client));
        book.Commit();
        book.Unqueued();
        Assert.False(settled.IsCompleted);

        Assert.True(book.TryTake(upstream, out var requester));
        Assert.Equal(client, requester);
        book.Delivered();
        Assert.True(settled.IsCompletedSuccessfully);
    }

    [Fact]
    public void A_stop_counts_the_request_being_sent_once_its_sender_recorded_it()
    {
        // The upstream client may have written the request before its sender records it: a stop that counted the requests in
        // flight then found none, and said nothing of the answer it went on to wait for (Proxy2StopTests failed on that).
        var (upstream, client) = (new ConnectionId(1, 1), new ConnectionId(1, 2));
        var book = NewBook([]);
        Assert.True(book.WhenNotSendingAsync().IsCompletedSuccessfully);
        Assert.True(book.TryReserve(upstream, client));
        book.Close();
        var sent = book.WhenNotSendingAsync();
        Assert.False(sent.IsCompleted);
        Assert.Equal(0, book.Waiting);

        book.Commit();
        Assert.True(sent.IsCompletedSuccessfully);
        Assert.Equal(1, book.Waiting);
    }

    [Fact]
    public void A_request_given_up_while_being_sent_ends_the_wait_with_nothing_in_flight()
    {
        var (upstream, client) = (new ConnectionId(1, 1), new ConnectionId(1, 2));
        var book = NewBook([]);
        Assert.True(book.TryReserve(upstream, client));
        var sent = book.WhenNotSendingAsync();

        Assert.True(book.Cancel());
        Assert.True(sent.IsCompletedSuccessfully);
        Assert.Equal(0, book.Waiting);
        Assert.True(book.WhenSettledAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public void With_nothing_queued_sent_or_owed_the_book_is_settled_at_once()
        => Assert.True(NewBook([]).WhenSettledAsync().IsCompletedSuccessfully);
}
