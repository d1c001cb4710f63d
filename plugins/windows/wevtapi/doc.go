// Package wevtapi collects Windows events live: a pull subscription per
// channel through the Windows Event Log API (EvtSubscribe, EvtNext,
// EvtRender), each event rendered as its XML and handed to the analytic's
// decoder, and a bookmark per channel kept in the analytic's state
// directory so that a restart resumes after the last event handed over,
// neither rereading a day of events nor losing those written while it was
// down (as long as the log kept them).
//
// The subscription and its system calls build only for Windows; the query,
// the bookmark store and the counters build everywhere, so that their tests
// run on any OS.
package wevtapi
