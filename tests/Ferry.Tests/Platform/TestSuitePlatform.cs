using System.Runtime.Versioning;

// The test suite itself runs on Linux only (it drives the epoll transport, OpenSSL and libc directly, and uses bash,
// /proc and Linux-only peers), so it says so: the platform analyzer (CA1416) then leaves its direct calls into the
// Linux-only code alone. The shipped code is held to the analyzer in src/, where CA1416 is an error; the portable
// paths are checked by Platform/PortableTransportChoiceTests and the stream suites.
[assembly: SupportedOSPlatform("linux")]
