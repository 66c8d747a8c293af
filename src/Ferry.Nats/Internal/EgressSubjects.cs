namespace Ferry.Nats.Internal;

/// <summary>The three egress subjects of one gateway: shared by all gateways, its own, and "one of all".</summary>
internal sealed record EgressSubjects(string Shared, string Own, string Any, string Stage, string Instance);
