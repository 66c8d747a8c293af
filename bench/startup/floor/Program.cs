// The floor: a Native AOT program that listens on a loopback port, says so the way `ferry serve` does, and idles.
using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;
var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
listener.Listen(512);
Console.Out.WriteLine("{\"type\":\"listening\",\"local\":\"" + listener.LocalEndPoint + "\"}");
Console.Out.Flush();
Thread.Sleep(Timeout.Infinite);
