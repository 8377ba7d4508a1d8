package runtime

import (
	"fmt"
	"testing"
)

func TestIntern(t *testing.T) {
	b := []byte("emails.SendWelcome")
	first := intern(b)
	b[0] = 'E' // the string must not alias the bytes
	if first != "emails.SendWelcome" {
		t.Fatalf("intern returned %q after its input changed", first)
	}
	if got := intern([]byte("Emails.SendWelcome")); got != "Emails.SendWelcome" {
		t.Fatalf("intern = %q", got)
	}
	// Many distinct strings share the slots: each still comes back whole.
	for i := range 2 * internSlots {
		want := fmt.Sprintf("task.%d", i)
		if got := intern([]byte(want)); got != want {
			t.Fatalf("intern(%q) = %q", want, got)
		}
	}
	if got := intern(nil); got != "" {
		t.Fatalf("intern(nil) = %q", got)
	}
	long := make([]byte, internMaxLen+1)
	if got := intern(long); got != string(long) {
		t.Fatal("intern changed a long string")
	}
	if n := testing.AllocsPerRun(100, func() { intern([]byte("emails.SendWelcome")) }); n != 0 {
		t.Errorf("intern of a string it holds allocates %v times", n)
	}
}
