package engine

// The Socket.IO events of the gateway's API (docs/protocol.md). The typed
// event maps in docs/events.d.ts and the AsyncAPI document
// docs/asyncapi.yaml describe the same lists; events_test.go holds the
// three together, and holds these lists to the code that handles and
// builds the events.

// ClientEvents are the events the gateway handles from clients
// (handleEvent, socket.go); any other name is ignored.
var ClientEvents = []string{
	"subscribe:market", "unsubscribe:market",
	"subscribe:orders", "unsubscribe:orders",
	"subscribe:positions", "unsubscribe:positions",
	"subscribe:notifications", "unsubscribe:notifications",
}

// ServerEvents returns the events the gateway emits: ticks, each user
// stream's event, and the refusal of an event sent without an ack.
func ServerEvents() []string {
	events := []string{"market:data"}
	for stream := StreamOrders; stream < streamCount; stream++ {
		events = append(events, stream.EventName())
	}
	return append(events, "error")
}
