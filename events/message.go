package events

// Message is one inbound message as the carrier delivered it: the stream
// sequence is its position in FUND_EVENTS.
type Message struct {
	StreamSeq uint64
	Subject   string
	Data      []byte
}
