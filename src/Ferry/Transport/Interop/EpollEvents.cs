using System.Runtime.InteropServices;

namespace Ferry.Transport.Interop;

/// <summary>
/// The kernel's <c>struct epoll_event</c> array. On x86-64 the struct is packed (12 bytes, data at
/// offset 4); elsewhere it is naturally aligned (16 bytes, data at offset 8), so the layout is
/// chosen at run time instead of with a fixed C# struct.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class EpollEvents : IDisposable
{
    private static readonly int Size = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private byte* _buffer;

    public EpollEvents(int capacity)
    {
        Capacity = capacity;
        _buffer = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * Size));
    }

    public int Capacity { get; }

    public byte* Buffer => _buffer;

    public uint EventsAt(int index) => *(uint*)(_buffer + index * Size);

    public long DataAt(int index) => *(long*)(_buffer + index * Size + DataOffset);

    public static void Write(byte* ev, uint events, long data)
    {
        *(uint*)ev = events;
        *(long*)(ev + DataOffset) = data;
    }

    public static int StructSize => Size;

    public void Dispose()
    {
        if (_buffer != null)
        {
            NativeMemory.Free(_buffer);
            _buffer = null;
        }
    }
}
