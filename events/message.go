package events

// Message is one inbound message as the carrier delivered it: the stream
// sequence is its position in FUND_EVENTS.
type Message struct {
	StreamSeq uint64
	Subject   string
	// Header holds the message's headers as the carrier gave them (NATS
	// headers), nil when it had none. A CloudEvent in binary content mode
	// carries its attributes here (ce-id, ce-type, ...) and Data is its
	// data alone (CONTRACT.md section 2).
	Header map[string][]string
	Data   []byte
}
