// Package fleet makes camrelay instances one fleet on etcd: they share one
// camera list, register as members under a lease, and relay each camera on
// exactly one live member.
//
// Keys, under the configured prefix P:
//
//	P/seeded          written once, when cameras: of the file seeded the list
//	P/cameras/NAME    a camera (JSON), as the API writes it
//	P/members/ID      a live member (JSON), bound to its lease
//	P/claims/NAME     the member relaying NAME, bound to that member's lease
//
// The owner of a camera is the live member with the highest rendezvous
// weight for its name (relay/shard.MemberOwner). A member relays a camera
// only while it holds the camera's claim, created with a transaction that
// succeeds only when the key is absent. A member that is no longer the
// owner (a member joined) stops the camera first, then deletes its claim;
// the new owner claims when it sees the delete. A dead member's claims
// vanish with its lease.
//
// Fencing: a member keeps its own lease deadline, the send time of the last
// acknowledged keepalive + TTL - margin, on the monotonic clock. It is
// always before etcd can expire the lease (etcd counts the TTL from when it
// received that keepalive, later). At the deadline, reached or noticed
// late after a freeze, the member stops every camera, whether or not etcd
// answers; a new publish session is refused past it at the sink itself
// (MayPublish); and it claims again only under a fresh lease, after
// revoking the old one. So a camera is never relayed by two members beyond
// the time the stopping member takes to close its sessions.
package fleet
