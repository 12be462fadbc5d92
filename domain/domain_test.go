package domain

import "testing"

func TestNormalizeUUID(t *testing.T) {
	for in, want := range map[string]string{
		"AFEC998A-ADDB-4AA2-93B3-3A66DF2A06C2": "afec998a-addb-4aa2-93b3-3a66df2a06c2",
		"afec998aaddb4aa293b33a66df2a06c2":     "afec998a-addb-4aa2-93b3-3a66df2a06c2",
	} {
		if got, ok := normalizeUUID(in); !ok || got != want {
			t.Errorf("normalizeUUID(%q) = %q %v", in, got, ok)
		}
	}
	for _, bad := range []string{"vm1", "afec998a-addb-4aa2-93b3-3a66df2a06c", "zfec998aaddb4aa293b33a66df2a06c2"} {
		if _, ok := normalizeUUID(bad); ok {
			t.Errorf("normalizeUUID(%q) accepted", bad)
		}
	}
}
