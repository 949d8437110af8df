package saga

// BreakCancel turns s into the buggy twin's service, whose cancel is not
// idempotent: a retried cancel of a trip it has already cancelled refunds
// it again.
func BreakCancel(s *Service) { s.nonIdempotentCancel = true }
