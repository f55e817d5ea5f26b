export { runCampaign, summarize, type CampaignOptions, type CampaignResult, type CampaignSummary, type Violation } from './campaign.js';
export { FAULT_KINDS, type FaultKind } from './faults.js';
export { EDIT_KINDS, type EditKind } from './edits.js';
