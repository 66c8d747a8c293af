namespace Ferry.Bus;

/// <summary>
/// A pooled message that the bus keeps alive while a queue subscription holds it. Users never call
/// these: the bus retains on enqueue and releases when the reader moves on.
/// </summary>
public interface IRetainable
{
    void Retain();

    void Release();
}
