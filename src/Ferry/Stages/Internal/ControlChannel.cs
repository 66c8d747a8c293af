using Ferry.Connections;

namespace Ferry.Stages.Internal;

/// <summary>The stage's <c>control</c> channel: the kill switch and group membership. Bad commands are reported and ignored.</summary>
internal sealed class ControlChannel(StageEngine engine)
{
    public ValueTask HandleAsync(ControlCommand command, CancellationToken cancellationToken)
    {
        if (command is null)
        {
            engine.Events.RaiseError(StageErrorKind.Control, "control: empty command ignored");
            return default;
        }
        bool ok;
        try
        {
            ok = command.Kind switch
            {
                ControlKind.Close => engine.RequestClose(command.Connection, DisconnectReason.Killed, command.Reason, command.Code),
                ControlKind.Join when !string.IsNullOrWhiteSpace(command.Group) => engine.Groups.Join(command.Connection, command.Group),
                ControlKind.Leave when !string.IsNullOrWhiteSpace(command.Group) => engine.Groups.Leave(command.Connection, command.Group) || engine.Table.Contains(command.Connection),
                _ => false,
            };
        }
        catch (Exception ex) when (command.Kind == ControlKind.Join && ex is ArgumentException or InvalidOperationException)
        {
            // A join over max_groups_per_connection or max_group_name_length: refused whole (the registry changed nothing),
            // reported like any bad command; the publisher (any component, or a remote one through a gateway) is not failed.
            engine.Events.RaiseError(StageErrorKind.Control, $"control join: {ErrorText(ex)}; ignored", command.Connection);
            return default;
        }
        if (!ok)
        {
            var why = command.Kind is ControlKind.Join or ControlKind.Leave && string.IsNullOrWhiteSpace(command.Group)
                ? "no group given"
                : !Enum.IsDefined(command.Kind) ? $"unknown command kind {(int)command.Kind}" : $"unknown connection '{command.Connection}'";
            engine.Events.RaiseError(StageErrorKind.Control, $"control {command.Kind.ToString().ToLowerInvariant()}: {why}; ignored", command.Connection);
        }
        return default;
    }

    /// <summary>The refusal's message, without the " (Parameter 'group')" an <see cref="ArgumentException"/> adds for code.</summary>
    private static string ErrorText(Exception ex) => ex is ArgumentException { ParamName: { } name } argument
        ? argument.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal)
        : ex.Message;
}
