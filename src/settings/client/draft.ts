// The draft rule set an admin is editing, kept in this browser per tenant until it is published, so the
// Simulate page works on what the Rules page holds.
import { tenantId } from './api.js';

const key = `lead-router:draft:${tenantId}`;

export function loadDraft(): string | null {
  return localStorage.getItem(key);
}

export function saveDraft(source: string): void {
  localStorage.setItem(key, source);
}

export function clearDraft(): void {
  localStorage.removeItem(key);
}
