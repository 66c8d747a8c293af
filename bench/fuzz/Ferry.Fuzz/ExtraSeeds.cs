using System.Net;
using System.Text;
using Ferry.Transport.Proxy;

/// <summary>The seed corpus of the <c>proxy</c>, <c>runfile</c>, <c>framingspec</c> and <c>control</c> targets (written by <c>seeds DIR</c>).</summary>
internal static class ExtraSeeds
{
    public static void Write(string corpus)
    {
        WriteProxy(Path.Combine(corpus, "proxy"));
        WriteRunFile(Path.Combine(corpus, "runfile"));
        WriteFramingSpec(Path.Combine(corpus, "framingspec"));
        ControlTarget.WriteSeeds(Path.Combine(corpus, "control"));
    }

    private static void WriteProxy(string dir)
    {
        Directory.CreateDirectory(dir);
        var v4 = new ProxyHeader(1, new IPEndPoint(IPAddress.Parse("192.0.2.10"), 56324), new IPEndPoint(IPAddress.Parse("198.51.100.1"), 443));
        var v6 = new ProxyHeader(1, new IPEndPoint(IPAddress.Parse("2001:db8::1"), 1), new IPEndPoint(IPAddress.Parse("::ffff:10.0.0.1"), 65535));
        byte[] tlvs = [0x01, 0x00, 0x02, (byte)'h', (byte)'2', 0x04, 0x00, 0x00];
        var headers = new List<byte[]>
        {
            Encoding.ASCII.GetBytes(ProxyTarget.V1(v4)),
            Encoding.ASCII.GetBytes(ProxyTarget.V1(v6)),
            "PROXY UNKNOWN\r\n"u8.ToArray(),
            "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"u8.ToArray(),
            ProxyTarget.V2(v4),
            ProxyTarget.V2(v6, tlvs),
            ProxyTarget.V2Raw(0, 0x00, []),               // LOCAL: the proxy's health check
            ProxyTarget.V2Raw(1, 0x00, [0xEE, 0x00, 0x00]), // PROXY UNSPEC with a TLV
            ProxyTarget.V2Raw(1, 0x31, new byte[216]),     // UNIX: refused
            ProxyTarget.V2Raw(1, 0x12, ProxyTarget.V2(v4).AsSpan(16).ToArray()), // DGRAM: refused
            "PROXY TCP4 010.0.0.1 10.0.0.2 1 2\r\n"u8.ToArray(),
            "PROXY TCP6 1.2.3.4 ::1 1 2\r\n"u8.ToArray(),
            "PROXY TCP4 1.2.3.4 5.6.7.8 80 080\r\n"u8.ToArray(),
        };
        var index = 0;
        foreach (var header in headers)
        {
            // Accepted versions any, v1, v2; reads whole, byte by byte, and of 5.
            foreach (byte options in new byte[] { 2, 0b0000_0000, 0b0000_0101, 0b1111_1110 })
            {
                File.WriteAllBytes(Path.Combine(dir, $"header-{index++}"), [options, .. header, .. "GET / HTTP/1.1\r\n"u8]);
            }
        }
        File.WriteAllBytes(Path.Combine(dir, "garbage-0"), [2, .. "GET / HTTP/1.1\r\n"u8]);
        File.WriteAllBytes(Path.Combine(dir, "garbage-1"), [2, .. "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"u8]);
    }

    private static void WriteRunFile(string dir)
    {
        Directory.CreateDirectory(dir);
        string[] yaml =
        [
            """
            stages:
              - name: front
                type: tcp_server
                config:
                  bind: 127.0.0.1:0
                  framing: lines
                  max_connections: 1000
                  idle_timeout: 5m
                  egress_buffer: 64KiB
                  proxy_protocol: any
                  trusted_proxies: [127.0.0.1/32]
              - name: back
                type: tcp_client
                config:
                  connect: 127.0.0.1:9001
                  framing: length,bytes=2
                  reconnect_wait: 500ms
                  egress_overflow: wait
            routes:
              - from: front
                to: back
              - from: back
                to: front
                target: reply
            telemetry:
              prometheus:
                listen: 127.0.0.1:0
            """,
            """
            - name: io
              type: tcp_server
              config: &common
                bind: :0
                framing: delimiter
                delimiter: "\x03"
                position: prefix
            - name: other
              type: tcp_server
              config: *common
            """,
            """
            bus:
              type: nats
              url: nats://127.0.0.1:4222
            stages:
              - {name: gw, type: tcp_server, config: {bind: "127.0.0.1:0", framing: u16be}}
            """,
            """
            a: &a [x, x, x, x, x, x, x, x, x, x]
            b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
            d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
            stages: []
            """,
            "a: &a\n  b: *a\n",
            new string('[', 70) + new string(']', 70),
            "stages:\n\t- name: x\n",
            "base: &b {bind: ':0'}\nstages:\n  - name: s\n    type: tcp_server\n    config:\n      <<: *b\n",
            "--- \nstages: []\n---\nstages: []\n",
            "",
        ];
        string[] json =
        [
            """
            {
            	"stages": [
            		{ "name": "front", "type": "tcp_server",
            		  "config": { "bind": "127.0.0.1:0", "framing": "lines", "idle_timeout": "5m", "half_close_linger": "5s" } },
            		{ "name": "back", "type": "tcp_client",
            		  "config": { "connect": "127.0.0.1:9001", "framing": "lines", "reconnect_max_wait": "10s" } }
            	],
            	"routes": [ { "from": "front", "to": "back" }, { "from": "back", "to": "front", "target": "reply" } ]
            }
            """,
            """{ "stages": [ { "name": "x", "type": "tcp_server", "config": { "bind": 9000 } } ] } // comment""",
            """[ { "name": "x", "type": "tcp_server" }, { "name": "x" } ]""",
        ];
        var index = 0;
        foreach (var text in yaml)
            File.WriteAllBytes(Path.Combine(dir, $"yaml-{index++}"), [0, .. Encoding.UTF8.GetBytes(text)]);
        foreach (var text in json)
            File.WriteAllBytes(Path.Combine(dir, $"json-{index++}"), [1, .. Encoding.UTF8.GetBytes(text)]);
        File.WriteAllBytes(Path.Combine(dir, "bad-utf8"), [0, .. "stages:\n  - name: caf"u8, 0xE9, .. "\n"u8]);
        File.WriteAllBytes(Path.Combine(dir, "utf16"), [0, .. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("stages: []\n")]);
    }

    private static void WriteFramingSpec(string dir)
    {
        Directory.CreateDirectory(dir);
        string[] specs =
        [
            "raw", "lines", "lines,max_frame_bytes=64,on_error=skip", @"delimiter,delim=\r\n,include=true", @"delimiter,delimiter=\x03,position=prefix",
            "delimiter,delim=ab,position=prefix,append=false", "length", "length,bytes=3,endian=little,offset=2,adjust=-4,strip=5",
            "length,bytes=8,endian=little,offset=1,strip=0", "u16be,max_frame_bytes=4096", "u32be,on_error=close", "fixed,size=16",
            "header", "text-length", "mux", "zmtp,socket=pull,message=rogue", "zmtp,socket=push,message=single",
            "", "lines,,", "length,bytes=9", "nope,x=1", "fixed,size=1,size=2", "u16be,max_frame_bytes=99999999999",
        ];
        for (var i = 0; i < specs.Length; i++)
            File.WriteAllBytes(Path.Combine(dir, $"spec-{i}"), Encoding.UTF8.GetBytes(specs[i]));
        // UTF-16 (first byte 0xFE): a spec with a character outside ASCII, as a YAML escape can write it.
        File.WriteAllBytes(Path.Combine(dir, "utf16-0"), [0xFE, .. Encoding.Unicode.GetBytes("delimiter,delim=\u00e9\u2028,position=prefix")]);
    }
}
